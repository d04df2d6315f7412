"""/metrics tells the truth: after real calls through the app, the exposed VALUES move by exactly
what happened (cards issued per rule, feedback per outcome, errors per status), not just the names.

Metrics live in the process-wide registry, so each test reads /metrics before and after and
compares the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import BACLOFEN, DIAZEPAM, als_condition, bundle, hook_request, order, url_for

Sample = tuple[str, tuple[tuple[str, str], ...]]


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The real application (create_app with a temporary SQLite store), not tests/ops' fake one."""
    return make_app()


def scrape(client: Any) -> dict[Sample, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    values: dict[Sample, float] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def delta(before: dict[Sample, float], after: dict[Sample, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def issue_cards(client: Any) -> list[dict[str, Any]]:
    prefetch = {
        "conditions": bundle(als_condition(), searchset=True),
        "medicationRequests": bundle(order("R4", BACLOFEN, status="active", ident="rx-b"), searchset=True),
        "medicationStatements": None,
    }
    response = client.post(
        url_for("order-sign"), json=hook_request("order-sign", [order("R4", DIAZEPAM)], prefetch=prefetch)
    )
    assert response.status_code == 200
    return response.get_json()["cards"]  # type: ignore[no-any-return]


def test_cards_issued_are_counted_per_rule_and_indicator(app: Flask) -> None:
    client = app.test_client()
    before = scrape(client)
    cards = issue_cards(client) + issue_cards(client)
    after = scrape(client)
    expected: dict[tuple[str, str], int] = {}
    for card in cards:
        key = (card["source"]["topic"]["code"], card["indicator"])
        expected[key] = expected.get(key, 0) + 1
    assert expected, "the request must issue cards"
    for (rule, indicator), count in expected.items():
        assert delta(before, after, "cds_cards_issued_total", rule=rule, indicator=indicator) == count
    total = sum(after[k] - before.get(k, 0.0) for k in after if k[0] == "cds_cards_issued_total")
    assert total == len(cards)
    assert delta(before, after, "cds_http_requests_total", endpoint="/cds-services/<service_id>",
                 service="spasticity-order-sign", status="200") == 2  # fmt: skip


def test_feedback_is_counted_per_outcome(app: Flask) -> None:
    client = app.test_client()
    cards = issue_cards(client)
    before = scrape(client)
    items = [
        {"card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-21T12:01:00Z"},
        {"card": cards[1]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-21T12:01:01Z"},
    ]
    if cards[0].get("suggestions"):
        items.append({"card": cards[0]["uuid"], "outcome": "accepted",
                      "acceptedSuggestions": [{"id": cards[0]["suggestions"][0]["uuid"]}],
                      "outcomeTimestamp": "2026-11-21T12:01:02Z"})  # fmt: skip
    response = client.post(f"{url_for('order-sign')}/feedback", json={"feedback": items})
    assert response.status_code == 200
    after = scrape(client)
    assert delta(before, after, "cds_feedback_total", outcome="overridden") == 2
    assert delta(before, after, "cds_feedback_total", outcome="accepted") == len(items) - 2


def test_rejected_feedback_is_not_counted(app: Flask) -> None:
    client = app.test_client()
    before = scrape(client)
    bad = {"feedback": [{"card": "x", "outcome": "overridden", "outcomeTimestamp": "yesterday"}]}
    assert client.post(f"{url_for('order-sign')}/feedback", json=bad).status_code == 400
    after = scrape(client)
    assert delta(before, after, "cds_feedback_total", outcome="overridden") == 0
    assert delta(before, after, "cds_http_requests_total", endpoint="/cds-services/<service_id>/feedback",
                 service="spasticity-order-sign", status="400") == 1  # fmt: skip


def test_errors_are_counted_per_status(app: Flask) -> None:
    client = app.test_client()
    before = scrape(client)
    for _ in range(2):
        bad = client.post(url_for("order-sign"), data=b"{not json", content_type="application/json")
        assert bad.status_code == 400
    assert client.post("/cds-services/no-such-service", json={}).status_code == 404
    after = scrape(client)
    errors = {k: after[k] - before.get(k, 0.0) for k in after
              if k[0] == "cds_http_requests_total" and after[k] != before.get(k, 0.0)}  # fmt: skip
    by_status: dict[str, float] = {}
    for (_, labels), value in errors.items():
        status = dict(labels)["status"]
        by_status[status] = by_status.get(status, 0.0) + value
    assert by_status.get("400") == 2
    assert by_status.get("404") == 1
    labels = {"endpoint": "/cds-services/<service_id>", "service": "spasticity-order-sign", "status": "400"}
    assert delta(before, after, "cds_http_request_duration_seconds_count", **labels) == 2
