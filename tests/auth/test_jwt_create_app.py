"""JWT authentication on the real app from `create_app`: real blueprints, CORS, error handlers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from spasticity_cds import create_app
from spasticity_cds.auth import EXEMPT_PATHS, init_auth
from spasticity_cds.config import Config
from tests.auth.conftest import Keys
from tests.auth.tokens import DISCOVERY, FEEDBACK, call, claims_for, sign

ORIGIN = "https://sandbox.cds-hooks.org"


@pytest.fixture
def real_app(make_config: Callable[..., Config]) -> Flask:
    app = create_app(make_config())
    # A no-op once create_app wires auth itself; until then it adds the hook create_app will add.
    init_auth(app)
    return app


def service_path(app: Flask, keys: Keys) -> str:
    """The path of a service the real discovery document lists."""
    token = sign(keys.es384, claims_for(DISCOVERY))
    response = app.test_client().get(DISCOVERY, headers={"Authorization": f"Bearer {token}"})
    services = response.get_json()["services"]
    assert services, "discovery must list at least one service"
    return f"{DISCOVERY}/{services[0]['id']}"


def test_real_app_needs_and_accepts_a_token(real_app: Flask, keys: Keys) -> None:
    client = real_app.test_client()
    path = service_path(real_app, keys)
    feedback = path + "/feedback"

    for endpoint in (DISCOVERY, path, feedback):
        response = call(client, endpoint, Origin=ORIGIN)
        assert response.status_code == 401, endpoint
        assert response.get_json()["resourceType"] == "OperationOutcome"
        assert response.headers["Access-Control-Allow-Origin"] in {"*", ORIGIN}

    assert call(client, DISCOVERY, sign(keys.es384, claims_for(DISCOVERY))).status_code == 200
    # An empty body is a client error, but no longer an authentication one.
    assert call(client, path, sign(keys.rs384, claims_for(path))).status_code not in (401, 403)
    assert call(client, feedback, sign(keys.es384, claims_for(feedback))).status_code not in (401, 403)


def test_real_app_preflight_and_probes_need_no_token(real_app: Flask) -> None:
    client = real_app.test_client()
    preflight = client.options(
        FEEDBACK,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] in {"*", ORIGIN}
    for path in sorted(EXEMPT_PATHS):  # whether or not the route exists yet, it is not refused
        assert client.get(path).status_code != 401, path


def test_init_auth_twice_does_not_double_claim(real_app: Flask, keys: Keys) -> None:
    init_auth(real_app)
    token = sign(keys.es384, claims_for(DISCOVERY))
    assert call(real_app.test_client(), DISCOVERY, token).status_code == 200
