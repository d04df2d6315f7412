"""POST /cds-services/<id>/feedback: stored and read back through the store, attributed to the
rule of the card it is about."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.api.helpers import BACLOFEN, DIAZEPAM, als_condition, bundle, hook_request, order, url_for


def _issue_cards(client: Any) -> list[dict[str, Any]]:
    prefetch = {
        "conditions": bundle(als_condition(), searchset=True),
        "medicationRequests": bundle(order("R4", BACLOFEN, status="active", ident="rx-b"), searchset=True),
        "medicationStatements": None,
        "patient": {"resourceType": "Patient"},  # no birth date: no age rule
        "lungFunctionLabs": None,  # second set of rules: FVC % predicted
    }
    response = client.post(
        url_for("order-sign"), json=hook_request("order-sign", [order("R4", DIAZEPAM)], prefetch=prefetch)
    )
    assert response.status_code == 200
    return response.get_json()["cards"]  # type: ignore[no-any-return]


def test_feedback_is_stored_and_attributed_to_rules(app: Flask) -> None:
    client = app.test_client()
    cards = {card["source"]["topic"]["code"]: card for card in _issue_cards(client)}
    spasticity, combination = cards["benzodiazepine-spasticity"], cards["cns-depressant-combination"]
    feedback = {
        "feedback": [
            {
                "card": spasticity["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": spasticity["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-11-21T12:01:00Z",
            },
            {   # the sandbox's dismissal: reason with code and system only
                "card": combination["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": "already-tolerated", "system": "http://x.org/override"}},
                "outcomeTimestamp": "2026-11-21T12:01:05.123Z",
            },
        ]
    }  # fmt: skip
    response = client.post(f"{url_for('order-sign')}/feedback", json=feedback)
    assert response.status_code == 200
    assert response.get_json() == {}
    assert response.headers.get("Access-Control-Allow-Origin")

    rules = app.extensions["cds"].store.report()["rules"]
    assert rules["benzodiazepine-spasticity"]["issued"] == 1
    assert rules["benzodiazepine-spasticity"]["accepted"] == 1
    assert rules["benzodiazepine-spasticity"]["overridden"] == 0
    assert rules["cns-depressant-combination"]["overridden"] == 1
    assert rules["cns-depressant-combination"]["accepted"] == 0


def test_a_repeated_feedback_item_is_stored_once(app: Flask) -> None:
    client = app.test_client()
    card = _issue_cards(client)[0]
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-21T12:02:00Z"}
    for _ in range(3):
        assert client.post(f"{url_for('order-sign')}/feedback", json={"feedback": [item]}).status_code == 200
    rule = card["source"]["topic"]["code"]
    assert app.extensions["cds"].store.report()["rules"][rule]["overridden"] == 1


def test_invalid_feedback_stores_nothing(app: Flask) -> None:
    client = app.test_client()
    card = _issue_cards(client)[0]
    bad = {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-21T12:02:00Z"}
    response = client.post(f"{url_for('order-sign')}/feedback", json={"feedback": [bad]})
    assert response.status_code == 400
    assert "acceptedSuggestions" in response.get_json()["issue"][0]["diagnostics"]
    rule = card["source"]["topic"]["code"]
    assert app.extensions["cds"].writer.flush(timeout=5)  # issued cards are recorded off the request path
    assert app.extensions["cds"].store.report()["rules"][rule]["accepted"] == 0
