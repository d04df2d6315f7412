"""Feedback the database could not store is a 400 naming the item and field, before anything is
written; on a real PostgreSQL (which rejects NUL in text) and on SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from spasticity_cds import create_app
from spasticity_cds.config import Config
from tests.support.postgres import PostgresServer, postgres_server  # noqa: F401 - fixture

GOOD = {"card": "c-1", "outcome": "overridden", "overrideReason": {"userComment": "fine"},
        "outcomeTimestamp": "2026-11-21T13:00:00Z"}  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database("feedback_hostile")
    else:
        url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    application = create_app(Config(database_url=url, data_dir=str(tmp_path)))
    yield application
    application.extensions["cds"].writer.close()
    application.extensions["cds"].store.close()


def post(app: Flask, raw: str) -> Any:
    services = app.extensions["cds"].knowledge.services
    sid = next(iter(services))
    return app.test_client().post(
        f"/cds-services/{sid}/feedback", data=raw.encode("utf-8", "surrogatepass"),
        content_type="application/json",
    )  # fmt: skip


def with_bad(index: int, bad: dict[str, Any]) -> list[dict[str, Any]]:
    items = [dict(GOOD, card=f"c-{i}") for i in range(3)]
    items[index] = {**items[index], **bad}
    return items


@pytest.mark.parametrize(
    ("raw_item", "field", "words"),
    [
        ('"outcomeTimestamp": "9999-12-31T23:59:59-14:00"', "outcomeTimestamp", "out of range"),
        ('"outcomeTimestamp": "0001-01-01T00:00:00+14:00"', "outcomeTimestamp", "out of range"),
        ('"overrideReason": {"userComment": "a \\ud800 b"}', "overrideReason.userComment", "surrogate"),
        ('"overrideReason": {"userComment": "a \\u0000 b"}', "overrideReason.userComment", "NUL"),
        ('"card": "c\\u0000"', "card", "NUL"),
        (
            '"overrideReason": {"reason": {"system": "s", "code": "x\\udfff"}}',
            "overrideReason.reason.code",
            "surrogate",
        ),
        (
            '"outcome": "accepted", "acceptedSuggestions": [{"id": "\\u0000"}]',
            "acceptedSuggestions[0].id",
            "NUL",
        ),
    ],
)
def test_unstorable_item_is_a_400_naming_index_and_field(
    app: Flask, raw_item: str, field: str, words: str
) -> None:
    good = [json.dumps(dict(GOOD, card=f"c-{i}")) for i in range(3)]
    bad = json.dumps(dict(GOOD, card="c-bad"))[:-1] + ", " + raw_item + "}"
    raw = '{"feedback": [' + ", ".join([good[0], bad, good[2]]) + "]}"
    response = post(app, raw)
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["expression"] == [f"feedback[1].{field}"]
    assert words in body["issue"][0]["diagnostics"]
    assert app.extensions["cds"].store.feedback_count() == 0  # nothing of the batch was written


def test_the_same_batch_without_the_bad_item_is_stored(app: Flask) -> None:
    raw = json.dumps({"feedback": [dict(GOOD, card=f"c-{i}") for i in range(3)]})
    assert post(app, raw).status_code == 200
    assert app.extensions["cds"].store.feedback_count() == 3
