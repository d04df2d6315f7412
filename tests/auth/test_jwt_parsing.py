"""One lenient parse to choose the key, one strict parse by PyJWT to verify: they cannot disagree.

`JwtVerifier.verify` reads the header and `iss` once (base64url + JSON) and leaves the strict,
verified parse to PyJWT's `decode_complete`; the header PyJWT verified must be the one checked. A
token that only the lenient parse would read (junk characters, padding, extra segments) is refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from spasticity_cds import auth
from spasticity_cds.auth import JwtVerifier, Rejected
from spasticity_cds.config import Config
from tests.auth.conftest import Keys
from tests.auth.test_jwt_verifier import MemoryJtis, accept, rejection
from tests.auth.tokens import BASE_URL, DISCOVERY, FEEDBACK, SERVICE, claims_for, sign


@pytest.fixture
def verifier(make_config: Callable[..., Config]) -> JwtVerifier:
    return JwtVerifier(make_config())


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def segments(token: str) -> list[str]:
    return token.split(".")


def test_a_genuine_token_is_accepted_once(verifier: JwtVerifier, keys: Keys) -> None:
    store = MemoryJtis()
    claims = claims_for(SERVICE)
    token = sign(keys.rs384, claims)
    assert accept(verifier, token, store=store)["jti"] == claims["jti"]
    with pytest.raises(Rejected, match="replayed-jti"):
        verifier.verify(f"Bearer {token}", path=SERVICE, store=store)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:2],  # two segments
        lambda s: [*s, ""],  # four
        lambda s: [*s[:2], "", "", s[2]],  # JWE-shaped, five
        lambda s: [s[0] + "=", *s[1:]],  # padding, which RFC 7515 leaves out
        lambda s: [s[0][:4] + "!" + s[0][4:], *s[1:]],  # a character outside base64url
        lambda s: [s[0], s[1][:5] + "*" + s[1][5:], s[2]],
        lambda s: [s[0][:-1], *s[1:]],  # truncated
        lambda s: [b64({"kid": "x"})[:-2] + "\u00e9", *s[1:]],  # not ASCII
        lambda s: [base64.urlsafe_b64encode(b"[1, 2]").rstrip(b"=").decode(), *s[1:]],  # not an object
        lambda s: [s[0], base64.urlsafe_b64encode(b'"iss"').rstrip(b"=").decode(), s[2]],
        lambda s: [s[0], base64.urlsafe_b64encode(b"[" * 100_000).decode()[:8_000], s[2]],  # nesting
    ],
)
def test_malformed_compact_serialisations_are_refused(
    verifier: JwtVerifier, keys: Keys, mangle: Callable[[list[str]], list[str]]
) -> None:
    token = ".".join(mangle(segments(sign(keys.rs384, claims_for(SERVICE)))))
    assert rejection(verifier, token) in {"malformed-token", "bad-signature", "bad-claims"}


def test_a_header_changed_after_signing_fails_on_the_signature(verifier: JwtVerifier, keys: Keys) -> None:
    head, payload, signature = segments(sign(keys.es384, claims_for(SERVICE)))
    header = json.loads(base64.urlsafe_b64decode(head + "=="))
    header["x5u"] = "https://attacker.example/key"
    assert rejection(verifier, ".".join([b64(header), payload, signature])) == "bad-signature"


def test_the_header_pyjwt_verified_must_be_the_one_checked(
    verifier: JwtVerifier, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guard: were PyJWT ever to read a different header than the lenient parse did, refuse."""
    original = jwt.decode_complete

    def other_header(*args: Any, **kwargs: Any) -> Any:
        decoded = original(*args, **kwargs)
        return {**decoded, "header": {**decoded["header"], "crit": ["exp"]}}

    monkeypatch.setattr(jwt, "decode_complete", other_header)
    assert rejection(verifier, sign(keys.es384, claims_for(SERVICE))) == "malformed-token"


def test_untrusted_issuer_is_refused_before_any_key_is_looked_up(
    verifier: JwtVerifier, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    for issuer in verifier.issuers.values():
        monkeypatch.setattr(issuer.keys, "signing_key", lambda kid: looked_up.append(kid))
    token = sign(keys.es384, claims_for(SERVICE, iss="https://other.example/fhir"))
    assert rejection(verifier, token) == "untrusted-issuer"
    assert looked_up == []


def test_audiences_are_computed_per_path_and_the_cache_is_bounded(verifier: JwtVerifier, keys: Keys) -> None:
    for path in (SERVICE, DISCOVERY, FEEDBACK):
        assert verifier.expected_audiences(path) == {BASE_URL + path}
        accept(verifier, sign(keys.es384, claims_for(path)), path=path)
        assert rejection(verifier, sign(keys.es384, claims_for(SERVICE)), path=path + "x") == "bad-audience"
    for i in range(auth.AUDIENCE_CACHE_SIZE * 2):
        verifier.expected_audiences(f"/cds-services/probe-{i}")
    assert verifier._expected_audiences.cache_info().currsize <= auth.AUDIENCE_CACHE_SIZE
    assert verifier.expected_audiences(SERVICE) == {BASE_URL + SERVICE}


def test_an_overlong_audience_is_refused(verifier: JwtVerifier, keys: Keys) -> None:
    long_aud = BASE_URL + SERVICE + "?" + "a" * auth.MAX_AUDIENCE_CHARS
    assert rejection(verifier, sign(keys.es384, claims_for(SERVICE, aud=long_aud))) == "bad-audience"
    aud_list = [long_aud, BASE_URL + SERVICE]  # one good value among others is enough, as before
    assert accept(verifier, sign(keys.es384, claims_for(SERVICE, aud=aud_list)))["aud"] == aud_list
