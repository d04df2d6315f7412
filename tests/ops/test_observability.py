"""Request ids, the JSON access line and JSON logging, through a Flask test client."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from spasticity_cds.observability import ACCESS_LOGGER, JsonFormatter, configure_logging

TOKEN = "eyJhbGciOiJFUzM4NCJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLXZhbHVl"


def _lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def _access_lines(err: str) -> list[dict[str, Any]]:
    return [line for line in _lines(err) if line["logger"] == ACCESS_LOGGER]


def test_one_json_access_line_per_request_with_the_fields(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = client.post(
        "/cds-services/spasticity-order-sign?patient=123&token=leak",
        json={"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": {"patientId": "pat-42"}},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200
    err = capsys.readouterr().err
    (line,) = _access_lines(err)
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert line["method"] == "POST"
    assert line["path"] == "/cds-services/spasticity-order-sign"
    assert line["service"] == "spasticity-order-sign"
    assert line["hookInstance"] == "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
    assert line["status"] == 200
    assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    assert line["rules_fired"] == ["baclofen-dantrolene-combination"]
    assert line["level"] == "INFO" and line["time"].startswith("20")
    # never a token, a query string, a body or patient data
    for secret in (TOKEN, "Bearer", "c2VjcmV0", "patient=123", "token=leak", "pat-42", "patientId"):
        assert secret not in err


def test_error_responses_are_logged_too(client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = client.post("/cds-services/no-such-service", json={})
    assert response.status_code == 404
    (line,) = _access_lines(capsys.readouterr().err)
    assert line["status"] == 404
    assert line["service"] == "no-such-service"
    assert line["hookInstance"] is None and line["rules_fired"] == []
    assert line["request_id"] == response.headers["X-Request-ID"]


def test_incoming_request_id_is_honoured(client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = client.get("/health", headers={"X-Request-ID": "ehr-abc_1.2-3"})
    assert response.headers["X-Request-ID"] == "ehr-abc_1.2-3"
    (line,) = _access_lines(capsys.readouterr().err)
    assert line["request_id"] == "ehr-abc_1.2-3"


@pytest.mark.parametrize(
    "incoming",
    [None, "", "has space", 'quote"d', "semi;colon", "x" * 129, "ünïcode", "a\\b"],
    ids=["absent", "empty", "space", "quote", "semicolon", "too-long", "non-ascii", "backslash"],
)
def test_missing_or_insane_request_id_is_replaced_by_a_uuid4(
    client: FlaskClient, incoming: str | None
) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    generated = client.get("/health", headers=headers).headers["X-Request-ID"]
    assert generated != incoming
    assert uuid.UUID(generated).version == 4


def test_longest_sane_request_id_is_kept(client: FlaskClient) -> None:
    rid = "a" * 128
    assert client.get("/health", headers={"X-Request-ID": rid}).headers["X-Request-ID"] == rid


def test_every_log_line_in_a_request_carries_its_id(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    @app.get("/_log_something")
    def _log_something() -> str:
        logging.getLogger("service.somewhere").warning("something happened")
        return "ok"

    capsys.readouterr()
    app.test_client().get("/_log_something", headers={"X-Request-ID": "rid-7"})
    lines = _lines(capsys.readouterr().err)
    warning = next(line for line in lines if line["logger"] == "service.somewhere")
    assert warning == {
        "time": warning["time"],
        "level": "WARNING",
        "logger": "service.somewhere",
        "message": "something happened",
        "request_id": "rid-7",
    }


def test_unknown_service_ids_never_become_metric_labels(client: FlaskClient) -> None:
    """A raw id from the URL would let any caller create time series; only known ids are labels."""
    client.post("/cds-services/attacker-chosen-id", json={})
    samples = {
        sample.labels.get("service")
        for metric in REGISTRY.collect()
        if metric.name == "cds_http_requests"
        for sample in metric.samples
    }
    assert "attacker-chosen-id" not in samples
    assert REGISTRY.get_sample_value(
        "cds_http_requests_total",
        {"endpoint": "/cds-services/<service_id>", "service": "", "status": "404"},
    )


def test_request_metrics_count_each_request(client: FlaskClient) -> None:
    labels = {"endpoint": "/health", "service": "", "status": "200"}
    before = REGISTRY.get_sample_value("cds_http_requests_total", labels) or 0.0
    count_before = REGISTRY.get_sample_value("cds_http_request_duration_seconds_count", labels) or 0.0
    for _ in range(3):
        client.get("/health")
    assert REGISTRY.get_sample_value("cds_http_requests_total", labels) == before + 3
    assert REGISTRY.get_sample_value("cds_http_request_duration_seconds_count", labels) == count_before + 3


def test_unmatched_paths_share_one_label(client: FlaskClient) -> None:
    labels = {"endpoint": "unmatched", "service": "", "status": "404"}
    before = REGISTRY.get_sample_value("cds_http_requests_total", labels) or 0.0
    client.get("/random/path/one")
    client.get("/random/path/two")
    assert REGISTRY.get_sample_value("cds_http_requests_total", labels) == before + 2


def test_configure_logging_is_idempotent_and_sets_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING")
    configure_logging("DEBUG")
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(ours) == 1
    assert root.level == logging.DEBUG
    # outgoing URLs (with patient ids in FHIR searches) stay out of the log even at DEBUG
    assert logging.getLogger("urllib3").level == logging.WARNING
    capsys.readouterr()
    logging.getLogger("service.test").debug("value %s", 42)
    (line,) = _lines(capsys.readouterr().err)
    assert line["message"] == "value 42" and line["level"] == "DEBUG"
    assert "request_id" not in line  # outside a request


def test_configure_logging_rejects_unknown_levels() -> None:
    with pytest.raises(ValueError, match="CDS_LOG_LEVEL"):
        configure_logging("LOUD")


def test_formatter_never_copies_arbitrary_extras() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)
    record.authorization = TOKEN  # something a careless caller passed as `extra`
    record.fields = {"status": 200}
    assert json.loads(JsonFormatter().format(record)) == {
        "time": json.loads(JsonFormatter().format(record))["time"],
        "level": "INFO",
        "logger": "x",
        "message": "msg",
        "status": 200,
    }


def test_requests_rejected_by_an_earlier_hook_are_still_logged(capsys: pytest.CaptureFixture[str]) -> None:
    """JWT auth may run before observability's own before_request and abort with 401."""
    from spasticity_cds.errors import Unauthorized, register_error_handlers
    from spasticity_cds.observability import init_observability

    app = Flask("auth-first")
    configure_logging("INFO")

    @app.before_request
    def _reject() -> None:
        raise Unauthorized()

    register_error_handlers(app)
    init_observability(app)
    capsys.readouterr()
    response = app.test_client().get("/anything", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 401
    (line,) = _access_lines(capsys.readouterr().err)
    assert line["status"] == 401
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert line["latency_ms"] > 0
