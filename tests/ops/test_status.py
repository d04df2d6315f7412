"""GET /health, /ready, /version and /metrics through a Flask test client."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from spasticity_cds import version as version_module
from spasticity_cds.api.status import PUBLIC_PATHS
from spasticity_cds.metrics import METRIC_NAMES

from .fakeapp import FakeStore, build_app


def test_health_is_ok_without_touching_the_database(client: FlaskClient, store: FakeStore) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert store.pings == 0


def test_ready_when_knowledge_loaded_and_database_reachable(client: FlaskClient, store: FakeStore) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}
    assert store.pings == 1  # cheap: one trivial query, no more


@pytest.mark.parametrize(
    "store",
    [FakeStore(healthy=False), FakeStore(error=ConnectionError("postgresql://cds:secret@db/cds"))],
    ids=["ping-false", "ping-raises"],
)
def test_not_ready_when_database_unreachable(store: FakeStore, caplog: pytest.LogCaptureFixture) -> None:
    response = build_app(store=store).test_client().get("/ready")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "transient"
    assert "database" in body["issue"][0]["diagnostics"]
    # a driver message may carry the URL with its password: neither answer nor log repeats it
    assert "secret" not in response.get_data(as_text=True)
    assert "secret" not in caplog.text


def test_not_ready_without_knowledge() -> None:
    response = build_app(knowledge=None).test_client().get("/ready")
    assert response.status_code == 503
    assert "knowledge" in response.get_json()["issue"][0]["diagnostics"]


def test_version_fields(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_COMMIT", "0123456789abcdef0123456789abcdef01234567")
    body = client.get("/version").get_json()
    assert body == {
        "version": version_module.package_version(),
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "knowledge_version": "2026.11.0",
    }
    assert re.match(r"^\d+\.\d+\.\d+", body["version"])


def test_version_without_knowledge_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_COMMIT", raising=False)
    body = build_app(knowledge=object()).test_client().get("/version").get_json()
    assert body["knowledge_version"] is None
    assert body["commit"]  # a sha in a checkout with commits, otherwise "unknown"


def test_metrics_exposition_after_a_hook_call(client: FlaskClient) -> None:
    client.post("/cds-services/spasticity-order-select", json={"hookInstance": "h-1"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    for name in METRIC_NAMES:
        # prometheus-client >= 0.22 names counters with `_total` in TYPE lines, older ones without
        assert re.search(rf"^# TYPE {name.removesuffix('_total')}(_total)? ", text, re.MULTILINE), name
    assert re.search(
        r'^cds_http_requests_total\{endpoint="/cds-services/<service_id>",'
        r'service="spasticity-order-select",status="200"\} [1-9]',
        text,
        re.MULTILINE,
    )
    assert re.search(
        r'^cds_cards_issued_total\{indicator="warning",rule="baclofen-dantrolene-combination"\} [1-9]',
        text,
        re.MULTILINE,
    )


def test_status_endpoints_are_the_public_paths(client: FlaskClient) -> None:
    """`PUBLIC_PATHS` is what JWT auth exempts: it must name exactly the GET routes of status.py."""
    routes = {
        rule.rule for rule in client.application.url_map.iter_rules() if rule.endpoint.startswith("status.")
    }
    assert routes == PUBLIC_PATHS
