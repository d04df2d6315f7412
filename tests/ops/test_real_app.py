"""The operational endpoints and logging inside the real `create_app`, with JWT auth on."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from spasticity_cds.api.status import PUBLIC_PATHS
from spasticity_cds.metrics import METRIC_NAMES

TOKEN = "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ4In0.bm90LWEtc2lnbmF0dXJl"


@pytest.fixture
def jwt_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(auth="jwt", trusted_issuers={"https://ehr.example.org": "https://ehr.example.org/jwks"})


@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS))
def test_status_endpoints_need_no_token(jwt_app: Flask, path: str) -> None:
    response = jwt_app.test_client().get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["X-Request-ID"]


def test_status_answers(jwt_app: Flask) -> None:
    client = jwt_app.test_client()
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/ready").get_json() == {"status": "ready"}
    version = client.get("/version").get_json()
    assert set(version) == {"version", "commit", "knowledge_version"}
    assert version["knowledge_version"] == jwt_app.extensions["cds"].knowledge.version
    text = client.get("/metrics").get_data(as_text=True)
    assert all(name.removesuffix("_total") in text for name in METRIC_NAMES)


def test_ready_fails_when_the_real_store_cannot_reach_its_database(
    jwt_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> bool:
        raise OSError("connection refused")

    monkeypatch.setattr(jwt_app.extensions["cds"].store, "ping", unreachable)
    response = jwt_app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_rejected_hook_call_is_logged_without_the_token(
    jwt_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = jwt_app.test_client().post(
        "/cds-services/spasticity-order-sign",
        json={"hook": "order-sign", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"},
        headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "ehr-req-1"},
    )
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "ehr-req-1"
    err = capsys.readouterr().err
    assert TOKEN not in err and "bm90LWEtc2lnbmF0dXJl" not in err
    lines: list[dict[str, Any]] = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    (access,) = [line for line in lines if line["logger"] == "spasticity_cds.access"]
    assert access["request_id"] == "ehr-req-1"
    assert access["service"] == "spasticity-order-sign"
    assert access["status"] == 401
    assert all(line.get("request_id") == "ehr-req-1" for line in lines)
