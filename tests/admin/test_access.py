"""Who can read /admin/: its own credential (bearer token or basic auth, constant-time compared),
never the EHR's JWT; with CDS_AUTH=jwt a credential is required at start-up; the rest of the API
keeps its JWT check."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from spasticity_cds.admin.access import allowed
from spasticity_cds.config import Config
from tests.auth.tokens import BASE_URL, ISSUER, SigningKey, claims_for, sign

TOKEN = "admin-token-0123456789abcdef"
USER, PASSWORD = "committee", "correct horse battery staple"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def ehr_key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP384R1()), "ehr-1", "ES384")


@pytest.fixture
def jwt_app(make_app: Callable[..., Flask], ehr_key: SigningKey, tmp_path: Path) -> Callable[..., Flask]:
    """An app with EHR JWT auth on (a pinned JWKS file: no network) and the admin pages on."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ehr_key.jwk(alg="ES384", use="sig")]}))

    def build(**overrides: Any) -> Flask:
        values = {"auth": "jwt", "trusted_issuers": {ISSUER: str(jwks)}, "base_url": BASE_URL, "admin": True}
        return make_app(**{**values, **overrides})

    return build


def test_jwt_auth_without_an_admin_credential_refuses_to_start(jwt_app: Callable[..., Flask]) -> None:
    with pytest.raises(ValueError, match="CDS_ADMIN_TOKEN"):
        jwt_app()


def test_half_a_basic_pair_refuses_to_start(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ValueError, match="together"):
        make_app(admin=True, admin_user=USER)


def test_admin_settings_come_from_the_environment() -> None:
    config = Config.from_env({"CDS_ADMIN": "on", "CDS_ADMIN_TOKEN": TOKEN})
    assert config.admin is True and config.admin_token == TOKEN
    assert Config.from_env({}).admin is False


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/rules", "/admin/analytics?days=7", "/admin/static/admin.css"]
)
def test_bearer_token_opens_the_pages_and_nothing_else_does(
    jwt_app: Callable[..., Flask], ehr_key: SigningKey, path: str
) -> None:
    client = jwt_app(admin_token=TOKEN).test_client()
    assert client.get(path, headers=bearer(TOKEN)).status_code == 200
    refused = [
        client.get(path),
        client.get(path, headers=bearer(TOKEN + "x")),
        client.get(path, headers=bearer(TOKEN[:-1])),
        client.get(path, headers={"Authorization": TOKEN}),
        client.get(path, headers=basic("x", TOKEN)),  # no basic pair configured
        # A valid EHR JWT for exactly this path is not an admin credential.
        client.get(path, headers=bearer(sign(ehr_key, claims_for(path.split("?")[0])))),
    ]
    for response in refused:
        assert response.status_code == 401
        assert response.get_json()["resourceType"] == "OperationOutcome"
        assert 'Bearer realm="spasticity-cds admin"' in response.headers.getlist("WWW-Authenticate")
        assert TOKEN not in response.get_data(as_text=True)


def test_basic_auth_opens_the_pages(jwt_app: Callable[..., Flask]) -> None:
    client = jwt_app(admin_user=USER, admin_password=PASSWORD).test_client()
    assert client.get("/admin/", headers=basic(USER, PASSWORD)).status_code == 200
    for headers in (basic(USER, PASSWORD + "!"), basic(USER + "x", PASSWORD), basic("", ""), bearer(PASSWORD),
                    {"Authorization": "Basic not-base64!"}, {"Authorization": "Basic " + base64.b64encode(
                        USER.encode()).decode()}):  # fmt: skip
        response = client.get("/admin/", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Basic realm="spasticity-cds admin"')


def test_the_ehr_api_still_needs_its_jwt(jwt_app: Callable[..., Flask], ehr_key: SigningKey) -> None:
    client = jwt_app(admin_token=TOKEN).test_client()
    assert client.get("/cds-services", headers=bearer(TOKEN)).status_code == 401  # admin token: not an EHR
    token = sign(ehr_key, claims_for("/cds-services"))
    assert client.get("/cds-services", headers=bearer(token)).status_code == 200


def test_auth_off_and_no_credential_leaves_the_pages_open(make_app: Callable[..., Flask]) -> None:
    assert make_app(admin=True).test_client().get("/admin/").status_code == 200


def test_a_credential_is_required_when_configured_even_with_auth_off(make_app: Callable[..., Flask]) -> None:
    client = make_app(admin=True, admin_token=TOKEN).test_client()
    assert client.get("/admin/").status_code == 401
    assert client.get("/admin/", headers=bearer(TOKEN)).status_code == 200


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    config = Config(admin=True, admin_token=TOKEN, admin_user=USER, admin_password=PASSWORD)
    assert allowed(f"Bearer {TOKEN}", config)
    assert not allowed(basic(USER, "wrong")["Authorization"], config)
    # The token, and both halves of the basic pair (even when the user is right and the password not).
    assert (TOKEN.encode(), TOKEN.encode()) in calls
    assert (USER.encode(), USER.encode()) in calls and (b"wrong", PASSWORD.encode()) in calls
