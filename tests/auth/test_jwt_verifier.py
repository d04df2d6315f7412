"""JwtVerifier directly: the reason each token is refused, key rotation, the sandbox, settings."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.warnings import InsecureKeyLengthWarning

from spasticity_cds import auth
from spasticity_cds.auth import SANDBOX_ISSUER, SANDBOX_JKU, JwtVerifier, Rejected, normalise_url
from spasticity_cds.config import Config
from spasticity_cds.store import Store
from tests.auth.conftest import Keys
from tests.auth.tokens import (
    BASE_URL,
    DISCOVERY,
    ISSUER,
    SERVICE,
    SigningKey,
    build_app,
    call,
    claims_for,
    sign,
)
from tests.support.jwks_server import JwksServer

SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"


class MemoryJtis:
    """The one-method jti protocol in memory, recording what the verifier hands the store."""

    def __init__(self) -> None:
        self.claims: dict[str, datetime] = {}

    def claim_jti(self, jti: str, expires_at: datetime) -> bool:
        if jti in self.claims:
            return False
        self.claims[jti] = expires_at
        return True


def rejection(verifier: JwtVerifier, token: str | None, path: str = SERVICE) -> str:
    """The category a token is refused with (fails the test if it is accepted)."""
    header = None if token is None else f"Bearer {token}"
    with pytest.raises(Rejected) as caught:
        verifier.verify(header, path=path, store=MemoryJtis())
    return caught.value.category


def accept(verifier: JwtVerifier, token: str, path: str = SERVICE, store: Any = None) -> dict[str, Any]:
    return verifier.verify(f"Bearer {token}", path=path, store=store or MemoryJtis())


@pytest.fixture
def verifier(make_config: Callable[..., Config]) -> JwtVerifier:
    return JwtVerifier(make_config())


# -- why a token is refused ----------------------------------------------------------------------


def test_refusal_categories(verifier: JwtVerifier, keys: Keys) -> None:
    """Each bad token is refused for its own reason, not by accident of an earlier check."""
    now = int(time.time())
    es = keys.es384
    impostor = SigningKey(ec.generate_private_key(ec.SECP384R1()), es.kid, "ES384")
    cases = {
        "missing-token": None,
        "bad-signature": sign(impostor, claims_for(SERVICE)),
        "unknown-kid": sign(es, claims_for(SERVICE), kid="nope"),
        "untrusted-issuer": sign(es, claims_for(SERVICE, iss="https://evil.example.org")),
        "bad-audience": sign(es, claims_for(SERVICE, aud=BASE_URL + DISCOVERY)),
        "expired": sign(es, claims_for(SERVICE, iat=now - 900, exp=now - 60)),
        "not-yet-valid": sign(es, claims_for(SERVICE, iat=now + 60)),
        "bad-alg": sign(keys.es256, claims_for(SERVICE)),
        "bad-typ": sign(es, claims_for(SERVICE), typ=None),
        "missing-kid": jwt.encode(claims_for(SERVICE), es.private, algorithm="ES384"),
        "bad-jku": sign(es, claims_for(SERVICE), jku="https://evil.example.org/jwks.json"),
        "missing-claim": sign(es, claims_for(SERVICE, jti=None)),
        "bad-key": sign(keys.rs384, claims_for(SERVICE), kid=es.kid),
        "lifetime-too-long": sign(es, claims_for(SERVICE, exp=now + 7200)),
        "malformed-token": "x.y.z",
    }
    found = {category: rejection(verifier, token) for category, token in cases.items()}
    assert found == {category: category for category in cases}


def test_future_iat_is_refused_even_if_pyjwt_would_not(
    verifier: JwtVerifier, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some PyJWT 2.x releases do not check iat against the clock; the verifier does regardless."""
    original = jwt.decode_complete

    def lenient_decode(*args: Any, **kwargs: Any) -> Any:
        options = dict(kwargs.pop("options", {}) or {})
        options["verify_iat"] = False
        return original(*args, options=options, **kwargs)

    monkeypatch.setattr(jwt, "decode_complete", lenient_decode)
    token = sign(keys.es384, claims_for(SERVICE, iat=int(time.time()) + 120))
    assert rejection(verifier, token) == "not-yet-valid"


def test_replay_is_refused_and_the_store_gets_an_issuer_scoped_digest(
    verifier: JwtVerifier, keys: Keys
) -> None:
    store = MemoryJtis()
    claims = claims_for(SERVICE)
    accept(verifier, sign(keys.es384, claims), store=store)
    with pytest.raises(Rejected) as caught:
        verifier.verify(f"Bearer {sign(keys.es384, claims)}", path=SERVICE, store=store)
    assert caught.value.category == "replayed-jti"
    [(key, expires_at)] = store.claims.items()
    assert len(key) == 64 and claims["jti"] not in key  # fixed-length, per issuer
    # Kept until the token could no longer be accepted: exp plus the clock-skew leeway.
    assert expires_at.timestamp() == claims["exp"] + Config().jwt_leeway
    assert expires_at.tzinfo is not None


def test_same_jti_from_two_issuers_is_not_a_replay(
    make_config: Callable[..., Config], jwks: JwksServer, keys: Keys
) -> None:
    other = "https://other-ehr.example.org"
    verifier = JwtVerifier(make_config(trusted_issuers={ISSUER: jwks.url, other: jwks.url}))
    store = MemoryJtis()
    jti = str(uuid.uuid4())
    accept(verifier, sign(keys.es384, claims_for(SERVICE, jti=jti)), store=store)
    accept(verifier, sign(keys.es384, claims_for(SERVICE, jti=jti, iss=other)), store=store)


# -- keys: fetching, caching, rotation, revocation ----------------------------------------------


def test_jwks_is_fetched_once_and_cached(verifier: JwtVerifier, keys: Keys, jwks: JwksServer) -> None:
    for _ in range(3):
        accept(verifier, sign(keys.es384, claims_for(SERVICE)))
        accept(verifier, sign(keys.rs384, claims_for(SERVICE)))
    assert jwks.requests == 1


def test_rotated_key_is_picked_up(
    no_refresh_cooldown: None, make_config: Callable[..., Config], keys: Keys, jwks: JwksServer
) -> None:
    verifier = JwtVerifier(make_config())
    accept(verifier, sign(keys.es384, claims_for(SERVICE)))
    new = SigningKey(ec.generate_private_key(ec.SECP384R1()), "es384-2", "ES384")
    jwks.set_keys([new.jwk(alg="ES384")])  # the issuer rotates: new kid, old key withdrawn
    accept(verifier, sign(new, claims_for(SERVICE)))
    assert jwks.requests == 2
    # An unknown kid after the refetch is still unknown.
    assert rejection(verifier, sign(new, claims_for(SERVICE), kid="es384-3")) == "unknown-kid"


def test_withdrawn_key_stops_verifying_when_the_cache_expires(
    no_refresh_cooldown: None,
    monkeypatch: pytest.MonkeyPatch,
    make_config: Callable[..., Config],
    keys: Keys,
    jwks: JwksServer,
) -> None:
    monkeypatch.setattr(auth, "JWKS_LIFESPAN", 0.2)
    verifier = JwtVerifier(make_config())
    accept(verifier, sign(keys.es384, claims_for(SERVICE)))
    jwks.set_keys([keys.rs384.jwk()])  # the ES384 key is revoked
    time.sleep(0.3)
    assert rejection(verifier, sign(keys.es384, claims_for(SERVICE))) == "unknown-kid"


def test_forged_kids_cannot_flood_the_issuer(verifier: JwtVerifier, keys: Keys, jwks: JwksServer) -> None:
    """Within the refetch cooldown, unknown kids are refused without fetching again."""
    accept(verifier, sign(keys.es384, claims_for(SERVICE)))
    for n in range(10):
        assert rejection(verifier, sign(keys.es384, claims_for(SERVICE), kid=f"forged-{n}")) == "unknown-kid"
    assert jwks.requests == 1


def test_unreachable_jwks_is_refused_and_warned_about(
    verifier: JwtVerifier, keys: Keys, jwks: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    jwks.fail_with(503)
    with caplog.at_level(logging.WARNING, logger="spasticity_cds.auth"):
        assert rejection(verifier, sign(keys.es384, claims_for(SERVICE))) == "jwks-unavailable"
    assert f"jwks unavailable: {jwks.url}" in caplog.text


def test_rsa_key_shorter_than_2048_bits_is_refused(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    weak = SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=1024), "weak", "RS384")
    path = tmp_path / "weak.json"
    path.write_text(json.dumps({"keys": [weak.jwk()]}))
    verifier = JwtVerifier(make_config(trusted_issuers={ISSUER: str(path)}))
    with pytest.warns(InsecureKeyLengthWarning):  # PyJWT warns when signing with it, too
        token = sign(weak, claims_for(SERVICE))
    assert rejection(verifier, token) == "bad-key"


def test_key_declaring_another_algorithm_is_refused(
    make_config: Callable[..., Config], keys: Keys, tmp_path: Path
) -> None:
    """A JWK's `alg` binds the key to that algorithm (RFC 7517 §4.4), even within the same family."""
    path = tmp_path / "rs256.json"
    path.write_text(json.dumps({"keys": [keys.rs384.jwk(alg="RS256")]}))
    verifier = JwtVerifier(make_config(trusted_issuers={ISSUER: str(path)}))
    assert rejection(verifier, sign(keys.rs384, claims_for(SERVICE))) == "bad-key"


def test_encryption_key_is_not_a_signing_key(
    make_config: Callable[..., Config], keys: Keys, tmp_path: Path
) -> None:
    path = tmp_path / "enc.json"
    path.write_text(json.dumps({"keys": [keys.es384.jwk(use="enc"), keys.rs384.jwk()]}))
    verifier = JwtVerifier(make_config(trusted_issuers={ISSUER: str(path)}))
    assert rejection(verifier, sign(keys.es384, claims_for(SERVICE))) == "unknown-kid"
    accept(verifier, sign(keys.rs384, claims_for(SERVICE)))


# -- local JWKS files and the sandbox ------------------------------------------------------------


def test_local_jwks_file_issuer(make_config: Callable[..., Config], keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "issuer-jwks.json"
    path.write_text(json.dumps({"keys": [keys.es384.jwk()]}))
    for location in (str(path), path.as_uri()):
        verifier = JwtVerifier(make_config(trusted_issuers={ISSUER: location}))
        accept(verifier, sign(keys.es384, claims_for(SERVICE)))
        # A file-configured issuer has no JWKS URL, so no jku can name it.
        token = sign(keys.es384, claims_for(SERVICE), jku="https://ehr.example.org/jwks.json")
        assert rejection(verifier, token) == "bad-jku"


def test_pinned_sandbox_jwks_loads() -> None:
    pinned = auth.PinnedKeys(auth.SANDBOX_JWKS_FILE)
    key = pinned.signing_key(SANDBOX_KID)
    assert isinstance(key.key, ec.EllipticCurvePublicKey)
    assert key.key.curve.name == "secp384r1"
    assert key.algorithm_name == "ES384"
    with pytest.raises(Rejected):
        pinned.signing_key("another-kid")


def test_sandbox_token_with_the_wrong_key_is_refused_on_signature(
    make_config: Callable[..., Config], jwks: JwksServer
) -> None:
    """Trusting the sandbox means its pinned key: a locally made token claiming to be it fails."""
    verifier = JwtVerifier(make_config(trust_sandbox=True))
    assert set(verifier.issuers) == {ISSUER, SANDBOX_ISSUER}
    local = SigningKey(ec.generate_private_key(ec.SECP384R1()), SANDBOX_KID, "ES384")
    token = sign(local, claims_for(SERVICE, iss=SANDBOX_ISSUER), jku=SANDBOX_JKU)
    assert rejection(verifier, token) == "bad-signature"
    # Its jku is accepted (the pinned file stands for it); any other jku is not.
    token = sign(local, claims_for(SERVICE, iss=SANDBOX_ISSUER), jku="https://sandbox.example.org/jwks.json")
    assert rejection(verifier, token) == "bad-jku"
    assert jwks.requests == 0  # nothing fetched: the sandbox key is pinned


def test_sandbox_shaped_token_is_accepted_with_its_pinned_key(
    monkeypatch: pytest.MonkeyPatch, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    """The whole sandbox path (fixed iss, fixed jku, pinned file) with a stand-in key pinned, since
    the sandbox's private key must not be in this repository."""
    stand_in = SigningKey(ec.generate_private_key(ec.SECP384R1()), SANDBOX_KID, "ES384")
    pinned = tmp_path / "sandbox-jwks.json"
    pinned.write_text(json.dumps({"keys": [stand_in.jwk(alg="ES384", use="sig")]}))
    monkeypatch.setattr(auth, "SANDBOX_JWKS_FILE", pinned)
    verifier = JwtVerifier(make_config(trusted_issuers={}, trust_sandbox=True))
    # Header and claims shaped as in the captured sandbox call (shared/sandbox/requests/jwt-decoded.json).
    token = sign(stand_in, claims_for(SERVICE, iss=SANDBOX_ISSUER), jku=SANDBOX_JKU)
    assert accept(verifier, token)["iss"] == SANDBOX_ISSUER


def test_sandbox_alone_is_a_valid_configuration(make_config: Callable[..., Config], store: Store) -> None:
    client = build_app(make_config(trusted_issuers={}, trust_sandbox=True), store).test_client()
    assert call(client, DISCOVERY).status_code == 401


# -- settings are checked at start-up ------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"jwt_algorithms": ("ES384", "HS256")}, "HS256"),
        ({"jwt_algorithms": ("none",)}, "none"),
        ({"jwt_algorithms": ()}, "empty"),
        ({"trusted_issuers": {}}, "CDS_TRUSTED_ISSUERS"),
        ({"trusted_issuers": {ISSUER: "/no/such/jwks.json"}}, "cannot load"),
        ({"trusted_issuers": {ISSUER: "ftp://ehr.example.org/jwks.json"}}, "http(s)"),
        ({"base_url": "cds.example.org"}, "CDS_BASE_URL"),
        ({"aud_aliases": ("not a url",)}, "CDS_AUD_ALIASES"),
        ({"jwt_leeway": -1}, "LEEWAY"),
    ],
)
def test_bad_settings_fail_at_start_up(
    make_config: Callable[..., Config], store: Store, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_app(make_config(**overrides), store)


@pytest.mark.parametrize("mode", ["JWT", "yes", "on", "jwt-on"])
def test_auth_mode_typo_fails_instead_of_leaving_the_service_open(
    make_config: Callable[..., Config], store: Store, mode: str
) -> None:
    if mode == "JWT":  # case does not matter
        client = build_app(make_config(auth=mode), store).test_client()
        assert call(client, DISCOVERY).status_code == 401
        return
    with pytest.raises(ValueError, match="CDS_AUTH"):
        build_app(make_config(auth=mode), store)


def test_settings_from_the_environment(jwks: JwksServer, keys: Keys, store: Store, tmp_path: Path) -> None:
    """The CDS_* variables a deployment sets reach the verifier."""
    env = {
        "CDS_AUTH": "jwt",
        "CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: jwks.url}),
        "CDS_TRUST_SANDBOX": "true",
        "CDS_BASE_URL": "https://cds.example.org/",
        "CDS_AUD_ALIASES": "http://10.0.0.5:8080,https://cds-alt.example.org",
        "CDS_JWT_ALGORITHMS": "ES384,RS384,ES256",
        "CDS_DATA_DIR": str(tmp_path),
    }
    client = build_app(Config.from_env(env), store).test_client()
    for aud_base in ("https://cds.example.org", "http://10.0.0.5:8080", "https://cds-alt.example.org"):
        token = sign(keys.es256, claims_for(SERVICE, aud=aud_base + SERVICE))
        assert call(client, SERVICE, token).status_code == 200


# -- aud normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        ("HTTPS://Example.ORG:443/cds-services/", "https://example.org/cds-services"),
        ("http://example.org:80/a", "http://example.org/a"),
        ("http://example.org:8080/a//", "http://example.org:8080/a"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
        ("https://example.org/a%20b", "https://example.org/a b"),
        ("https://example.org/A", "https://example.org/A"),
        ("https://user:pw@example.org/a", None),
        ("https://example.org/a#frag", None),
        ("ftp://example.org/a", None),
        ("https://example.org:99999/a", None),
        ("/cds-services", None),
        ("", None),
    ],
)
def test_normalise_url(url: str, expected: str | None) -> None:
    assert normalise_url(url) == expected
