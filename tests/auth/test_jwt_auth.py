"""JWT authentication end to end over the Flask app: what is accepted, and every way to be refused."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from spasticity_cds.config import Config
from spasticity_cds.store import Store
from tests.auth.conftest import Keys
from tests.auth.tokens import (
    BASE_URL,
    DISCOVERY,
    FEEDBACK,
    ISSUER,
    SERVICE,
    b64url,
    build_app,
    call,
    claims_for,
    sign,
    unsigned_token,
)

ENDPOINTS = [DISCOVERY, SERVICE, FEEDBACK]


def assert_unauthorized(response: Any) -> None:
    """401 with an OperationOutcome that says nothing about why."""
    assert response.status_code == 401
    body = response.get_json()
    assert body == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "login", "diagnostics": "Unauthorized"}],
    }


# -- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("key_name", ["es384", "rs384"])
def test_valid_token_is_accepted_on_every_endpoint(client: Any, keys: Keys, path: str, key_name: str) -> None:
    key = getattr(keys, key_name)
    response = call(client, path, sign(key, claims_for(path)))
    assert response.status_code == 200, response.get_json()


def test_epic_style_token_with_sub_and_nbf_is_accepted(client: Any, keys: Keys) -> None:
    now = int(time.time())
    token = sign(keys.rs384, claims_for(SERVICE, sub="epic-client-id", nbf=now - 1))
    assert call(client, SERVICE, token).status_code == 200


@pytest.mark.parametrize(
    "aud",
    [
        "HTTPS://CDS.Example.org/cds-services/spasticity-order-select",  # scheme and host case
        "https://cds.example.org:443/cds-services/spasticity-order-select",  # default port
        "https://cds.example.org/cds-services/spasticity-order-select/",  # trailing slash
        ["https://other.example.org/x", BASE_URL + SERVICE],  # an array, one element matching
    ],
)
def test_aud_is_compared_after_normalising(client: Any, keys: Keys, aud: Any) -> None:
    assert call(client, SERVICE, sign(keys.es384, claims_for(SERVICE, aud=aud))).status_code == 200


def test_aud_alias_is_accepted(make_config: Callable[..., Config], store: Store, keys: Keys) -> None:
    config = make_config(aud_aliases=("http://cds.internal:8080/", "https://cds.example.org/proxy"))
    client = build_app(config, store).test_client()
    for base in ("http://cds.internal:8080", "https://cds.example.org/proxy", BASE_URL):
        token = sign(keys.es384, claims_for(SERVICE, aud=base + SERVICE))
        assert call(client, SERVICE, token).status_code == 200, base


def test_jku_equal_to_the_configured_jwks_is_accepted(client: Any, keys: Keys, jwks: Any) -> None:
    token = sign(keys.es384, claims_for(SERVICE), jku=jwks.url)
    assert call(client, SERVICE, token).status_code == 200


def test_es256_is_accepted_when_configured(
    make_config: Callable[..., Config], store: Store, keys: Keys
) -> None:
    client = build_app(make_config(jwt_algorithms=("ES384", "ES256")), store).test_client()
    assert call(client, SERVICE, sign(keys.es256, claims_for(SERVICE))).status_code == 200


def test_iat_within_the_leeway_is_accepted(client: Any, keys: Keys) -> None:
    # The sandbox rounds iat to the nearest second, so it can be up to half a second ahead.
    token = sign(keys.es384, claims_for(SERVICE, iat=int(time.time()) + 2))
    assert call(client, SERVICE, token).status_code == 200


# -- refused -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_authorization_header(client: Any, path: str) -> None:
    assert_unauthorized(call(client, path))


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "Bearer a.b", "Bearer a b.c.d", "token"],
)
def test_malformed_authorization_header(client: Any, value: str) -> None:
    assert_unauthorized(call(client, SERVICE, Authorization=value))


def test_oversized_token(client: Any) -> None:
    assert_unauthorized(call(client, SERVICE, "a" * 20000 + ".b.c"))


def test_bad_signature(client: Any, keys: Keys) -> None:
    token = sign(keys.es384, claims_for(SERVICE))
    head, body, signature = token.split(".")
    forged_body = b64url(b'{"iss":"%s","aud":"x"}' % ISSUER.encode())
    assert_unauthorized(call(client, SERVICE, f"{head}.{forged_body}.{signature}"))
    # Signed by a key that is not the issuer's, under the issuer's kid.
    impostor = ec.generate_private_key(ec.SECP384R1())
    forged = jwt.encode(claims_for(SERVICE), impostor, algorithm="ES384", headers={"kid": keys.es384.kid})
    assert_unauthorized(call(client, SERVICE, forged))


def test_unknown_kid(client: Any, keys: Keys) -> None:
    assert_unauthorized(call(client, SERVICE, sign(keys.es384, claims_for(SERVICE), kid="no-such-key")))


def test_missing_kid(client: Any, keys: Keys) -> None:
    token = jwt.encode(claims_for(SERVICE), keys.es384.private, algorithm="ES384")
    assert_unauthorized(call(client, SERVICE, token))


def test_untrusted_issuer(client: Any, keys: Keys) -> None:
    token = sign(keys.es384, claims_for(SERVICE, iss="https://evil.example.org"))
    assert_unauthorized(call(client, SERVICE, token))


def test_sandbox_issuer_is_not_trusted_unless_enabled(client: Any, keys: Keys) -> None:
    token = sign(keys.es384, claims_for(SERVICE, iss="https://sandbox.cds-hooks.org"))
    assert_unauthorized(call(client, SERVICE, token))


@pytest.mark.parametrize(
    "aud",
    [
        BASE_URL + DISCOVERY,  # another endpoint of this service
        BASE_URL + FEEDBACK,
        "http://cds.example.org/cds-services/spasticity-order-select",  # wrong scheme
        "https://cds.example.org:8443/cds-services/spasticity-order-select",  # wrong port
        "https://evil.example.org/cds-services/spasticity-order-select",
        BASE_URL + SERVICE + "?x=1",
        BASE_URL + "/CDS-SERVICES/spasticity-order-select",  # path is case-sensitive
        [],
        [1],
        "",
    ],
)
def test_wrong_audience(client: Any, keys: Keys, aud: Any) -> None:
    assert_unauthorized(call(client, SERVICE, sign(keys.es384, claims_for(SERVICE, aud=aud))))


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "jti"])
def test_required_claim_missing(client: Any, keys: Keys, missing: str) -> None:
    assert_unauthorized(call(client, SERVICE, sign(keys.es384, claims_for(SERVICE, **{missing: None}))))


def test_expired(client: Any, keys: Keys) -> None:
    now = int(time.time())
    token = sign(keys.es384, claims_for(SERVICE, iat=now - 600, exp=now - 60))
    assert_unauthorized(call(client, SERVICE, token))


def test_iat_in_the_future(client: Any, keys: Keys) -> None:
    now = int(time.time())
    token = sign(keys.es384, claims_for(SERVICE, iat=now + 120, exp=now + 400))
    assert_unauthorized(call(client, SERVICE, token))


def test_nbf_in_the_future(client: Any, keys: Keys) -> None:
    token = sign(keys.es384, claims_for(SERVICE, nbf=int(time.time()) + 120))
    assert_unauthorized(call(client, SERVICE, token))


def test_lifetime_longer_than_an_hour(client: Any, keys: Keys) -> None:
    token = sign(keys.es384, claims_for(SERVICE, exp=int(time.time()) + 2 * 3600))
    assert_unauthorized(call(client, SERVICE, token))


@pytest.mark.parametrize("claim, value", [("exp", "soon"), ("iat", True), ("jti", 42), ("jti", "")])
def test_claim_of_the_wrong_type(client: Any, keys: Keys, claim: str, value: Any) -> None:
    assert_unauthorized(call(client, SERVICE, sign(keys.es384, claims_for(SERVICE, **{claim: value}))))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none(client: Any, keys: Keys, alg: str) -> None:
    token = unsigned_token({"alg": alg, "typ": "JWT", "kid": keys.es384.kid}, claims_for(SERVICE))
    assert_unauthorized(call(client, SERVICE, token))


@pytest.mark.parametrize("key_name", ["es384", "rs384"])
def test_hs256_signed_with_the_public_key(client: Any, keys: Keys, key_name: str) -> None:
    key = getattr(keys, key_name)
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    unsigned = unsigned_token(header, claims_for(SERVICE)).rsplit(".", 1)[0]
    signature = hmac.new(pem, unsigned.encode(), hashlib.sha256).digest()
    assert_unauthorized(call(client, SERVICE, f"{unsigned}.{b64url(signature)}"))


def test_replayed_jti(client: Any, keys: Keys) -> None:
    claims = claims_for(SERVICE)
    assert call(client, SERVICE, sign(keys.es384, claims)).status_code == 200
    assert_unauthorized(call(client, SERVICE, sign(keys.es384, claims)))  # same jti, new signature
    # The same jti from the same issuer is refused on another endpoint too.
    assert_unauthorized(call(client, FEEDBACK, sign(keys.es384, dict(claims, aud=BASE_URL + FEEDBACK))))


def test_replay_is_refused_by_another_replica(
    make_config: Callable[..., Config], store: Store, keys: Keys, tmp_path: Any
) -> None:
    """Two app instances on one database stand for two replicas: the jti is shared."""
    other_store = Store(f"sqlite:///{tmp_path / 'auth.sqlite3'}")
    try:
        first = build_app(make_config(), store).test_client()
        second = build_app(make_config(), other_store).test_client()
        token = sign(keys.es384, claims_for(SERVICE))
        assert call(first, SERVICE, token).status_code == 200
        assert_unauthorized(call(second, SERVICE, token))
    finally:
        other_store.close()


def test_a_rejected_token_does_not_use_up_its_jti(client: Any, keys: Keys) -> None:
    claims = claims_for(SERVICE)
    assert_unauthorized(call(client, SERVICE, sign(keys.es384, dict(claims, aud=BASE_URL + "/wrong"))))
    assert call(client, SERVICE, sign(keys.es384, claims)).status_code == 200


def test_jku_not_on_the_allowlist_is_refused_and_never_fetched(client: Any, keys: Keys) -> None:
    from tests.support.jwks_server import JwksServer

    with JwksServer([keys.es384.jwk()]) as attacker:
        token = sign(keys.es384, claims_for(SERVICE), jku=attacker.url)
        assert_unauthorized(call(client, SERVICE, token))
        assert attacker.requests == 0


@pytest.mark.parametrize("typ", [None, "JOSE", "at+jwt", ""])
def test_typ_missing_or_wrong(client: Any, keys: Keys, typ: str | None) -> None:
    assert_unauthorized(call(client, SERVICE, sign(keys.es384, claims_for(SERVICE), typ=typ)))


def test_typ_is_case_insensitive(client: Any, keys: Keys) -> None:
    assert call(client, SERVICE, sign(keys.es384, claims_for(SERVICE), typ="jwt")).status_code == 200


def test_es256_when_not_configured(client: Any, keys: Keys) -> None:
    assert_unauthorized(call(client, SERVICE, sign(keys.es256, claims_for(SERVICE))))


def test_alg_that_does_not_fit_the_key(client: Any, keys: Keys) -> None:
    """The ES384 key's JWK says ES384; an RS384 header under its kid is refused before any crypto."""
    token = sign(keys.rs384, claims_for(SERVICE), kid=keys.es384.kid)
    assert_unauthorized(call(client, SERVICE, token))


def test_crit_header_is_refused(client: Any, keys: Keys) -> None:
    token = sign(keys.es384, claims_for(SERVICE), crit=["exp"], exp=1)
    assert_unauthorized(call(client, SERVICE, token))


# -- HTTP behaviour ------------------------------------------------------------------------------


def test_401_carries_cors_headers(client: Any) -> None:
    response = call(client, SERVICE, Origin="https://sandbox.cds-hooks.org")
    assert_unauthorized(response)
    assert response.headers["Access-Control-Allow-Origin"] in {"*", "https://sandbox.cds-hooks.org"}


@pytest.mark.parametrize("path", ENDPOINTS)
def test_preflight_needs_no_token(client: Any, path: str) -> None:
    response = client.options(
        path,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "GET" if path == DISCOVERY else "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in {"*", "https://sandbox.cds-hooks.org"}
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_health_is_exempt(client: Any) -> None:
    assert client.get("/health").status_code == 200


def test_unknown_paths_need_a_token_too(client: Any) -> None:
    assert_unauthorized(client.get("/cds-services/x/y/z"))


def test_auth_off_needs_no_token(make_config: Callable[..., Config], store: Store) -> None:
    client = build_app(make_config(auth="off"), store).test_client()
    for path in ENDPOINTS:
        assert call(client, path).status_code == 200


def test_log_names_the_category_only(client: Any, keys: Keys, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = sign(keys.es384, claims_for(SERVICE, aud=BASE_URL + "/elsewhere", sub="secret-subject"))
    good = sign(keys.es384, claims_for(SERVICE))
    assert_unauthorized(call(client, SERVICE, bad))
    assert call(client, SERVICE, good).status_code == 200
    messages = [record.getMessage() for record in caplog.records if record.name == "spasticity_cds.auth"]
    assert messages == ["jwt rejected: bad-audience"]
    for token in (bad, good):
        for part in token.split("."):
            assert part not in caplog.text
    assert "secret-subject" not in caplog.text


def test_client_issuer_is_available_to_views(app: Any, keys: Keys) -> None:
    from flask import g

    seen: list[str] = []

    @app.get("/cds-services/who")
    def who() -> Any:
        seen.append(g.client_issuer)
        return {"ok": True}

    client = app.test_client()
    path = "/cds-services/who"
    assert call(client, DISCOVERY, sign(keys.es384, claims_for(DISCOVERY))).status_code == 200
    assert (
        client.get(
            path, headers={"Authorization": "Bearer " + sign(keys.es384, claims_for(path))}
        ).status_code
        == 200
    )
    assert seen == [ISSUER]
