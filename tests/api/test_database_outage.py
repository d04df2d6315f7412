"""The whole app (create_app) on a real PostgreSQL that goes away and comes back.

A hook answer never depends on the database: cards are returned during the outage and recorded
once it is over; feedback is 503 with Retry-After (never a 500, never a silent loss); /ready is
503 while the database is away and 200 within seconds after it returns; /health stays 200; the
app even starts while the database is down.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from spasticity_cds import create_app
from spasticity_cds.config import Config
from tests.support.gunicorn import REPO_ROOT
from tests.support.postgres import PostgresServer, free_port, running_postgres

HOOK_REQUEST = json.loads((REPO_ROOT / "docs" / "examples" / "order-sign-diazepam-als.json").read_text())


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def database(own_postgres: PostgresServer) -> Iterator[str]:
    own_postgres.resume()
    yield own_postgres.create_database(f"outage_{free_port()}")
    own_postgres.resume()


def build(url: str, tmp_path: Any) -> Flask:
    return create_app(Config(database_url=url, data_dir=str(tmp_path)))


def service_path(app: Flask) -> str:
    services = app.extensions["cds"].knowledge.services
    return "/cds-services/" + next(sid for sid, s in services.items() if s["hook"] == "order-sign")


def wait_ready(client: Any, timeout: float = 15.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if client.get("/ready").status_code == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"/ready not 200 within {timeout} s")


def feedback_body(card: dict[str, Any]) -> dict[str, Any]:
    return {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                          "overrideReason": {"userComment": "seen"},
                          "outcomeTimestamp": "2026-11-21T13:00:00Z"}]}  # fmt: skip


def test_hook_calls_answer_with_cards_through_an_outage_and_are_recorded_after(
    database: str, own_postgres: PostgresServer, tmp_path: Any
) -> None:
    app = build(database, tmp_path)
    client = app.test_client()
    path = service_path(app)
    assert client.get("/ready").status_code == 200

    own_postgres.halt()
    issued: list[str] = []
    for _ in range(10):
        started = time.monotonic()
        response = client.post(path, json=copy.deepcopy(HOOK_REQUEST))
        assert response.status_code == 200, response.get_data(as_text=True)
        cards = response.get_json()["cards"]
        assert cards, "no cards during the outage"
        assert time.monotonic() - started < 1.0  # never waits for the database
        issued += [c["uuid"] for c in cards]

    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.headers["Retry-After"]
    assert client.get("/health").status_code == 200

    feedback = client.post(path + "/feedback", json=feedback_body(cards[0]))
    assert feedback.status_code == 503
    assert int(feedback.headers["Retry-After"]) > 0
    outcome = feedback.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"
    assert feedback.headers.get("Access-Control-Allow-Origin")

    own_postgres.resume()
    recovery = wait_ready(client)
    assert recovery < 10
    runtime = app.extensions["cds"]
    assert runtime.writer.flush(timeout=15)
    assert runtime.store.issued_card_count() == len(issued)  # nothing that got a 200 is lost
    assert client.post(path + "/feedback", json=feedback_body(cards[0])).status_code == 200
    report = runtime.store.report()
    assert sum(rule["issued"] for rule in report["rules"].values()) == len(issued)
    assert report["unattributed_feedback"] == 0
    runtime.writer.close()


def test_app_starts_while_the_database_is_down_and_becomes_ready_when_it_returns(
    database: str, own_postgres: PostgresServer, tmp_path: Any
) -> None:
    own_postgres.halt()
    started = time.monotonic()
    app = build(database, tmp_path)  # the schema does not exist yet either
    assert time.monotonic() - started < 30
    client = app.test_client()
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503
    response = client.post(service_path(app), json=copy.deepcopy(HOOK_REQUEST))
    assert response.status_code == 200 and response.get_json()["cards"]
    own_postgres.resume()
    wait_ready(client)
    runtime = app.extensions["cds"]
    assert runtime.writer.flush(timeout=15)
    assert runtime.store.issued_card_count() == len(response.get_json()["cards"])
    runtime.writer.close()
