"""POST /cds-services/<id>/feedback through the Flask test client: stored, deduplicated, validated."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from spasticity_cds.runtime import Runtime
from spasticity_cds.store import Store
from tests.store.common import FIXED_NOW, service_id_for

FIXTURES = Path(__file__).parent / "fixtures"
SYSTEM = "https://spasticity-cds.example.org/override-reason"
ACCEPTED = "feedback[0].acceptedSuggestions"
REASON = "feedback[0].overrideReason.reason"


@pytest.fixture
def service_id(feedback_app: Flask) -> str:
    return service_id_for(feedback_app, "order-sign")


@dataclass
class FeedbackApi:
    """The test client bound to one service's feedback URL."""

    client: FlaskClient
    url: str

    def post(self, *items: Any, url: str | None = None) -> Any:
        return self.client.post(url or self.url, json={"feedback": list(items)})

    def post_json(self, body: Any) -> Any:
        return self.client.post(self.url, json=body)

    def post_raw(self, data: str, content_type: str = "application/json") -> Any:
        return self.client.post(self.url, data=data, headers={"Content-Type": content_type})

    def get(self) -> Any:
        return self.client.get(self.url)


@pytest.fixture
def api(feedback_app: Flask, service_id: str) -> FeedbackApi:
    return FeedbackApi(feedback_app.test_client(), f"/cds-services/{service_id}/feedback")


@pytest.fixture
def store(feedback_app: Flask) -> Store:
    runtime: Runtime = feedback_app.extensions["cds"]
    return runtime.store  # type: ignore[no-any-return]


def item(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "card": "3f1c7f5e-9d2a-4a6b-8d57-0f3a4b1c2d3e",
        "outcome": "overridden",
        "overrideReason": {"reason": {"code": "benefit", "system": SYSTEM}},
        "outcomeTimestamp": "2026-11-21T13:49:48.706Z",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def assert_bad_request(response: Any, field: str, words: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    (issue,) = outcome["issue"]
    assert issue["code"] == "invalid"
    assert issue["expression"] == [field]
    assert issue["diagnostics"].startswith(field)
    assert words in issue["diagnostics"]


# -- accepted ----------------------------------------------------------------------------------------


def test_sandbox_accepted_feedback_is_stored(api: FeedbackApi, store: Store, service_id: str) -> None:
    body = json.loads((FIXTURES / "sandbox-feedback-accepted.json").read_text())
    response = api.post_raw(json.dumps(body))
    assert response.status_code == 200
    assert response.get_json() == {}
    (stored,) = store.feedback_items()
    assert stored["card_uuid"] == "e83bf81d-e676-408b-b932-284080040f89"
    assert stored["outcome"] == "accepted"
    assert stored["accepted_suggestions"] == ["cecb15e9-87d8-4b4c-9fae-5524fdfa5e2e"]
    assert stored["service_id"] == service_id
    assert stored["outcome_at"].isoformat() == "2026-11-21T13:49:48.706000+00:00"
    assert stored["received_at"] == FIXED_NOW  # the injected clock


def test_sandbox_override_with_only_code_and_system(api: FeedbackApi, store: Store) -> None:
    assert api.post(item()).status_code == 200
    (stored,) = store.feedback_items()
    assert (stored["override_code"], stored["override_system"], stored["override_display"]) == (
        "benefit", SYSTEM, None,
    )  # fmt: skip


def test_override_with_comment_only_and_without_reason_at_all(api: FeedbackApi, store: Store) -> None:
    commented = item(card="c-1", overrideReason={"userComment": "patient on it for years"})
    bare = item(card="c-2", overrideReason=None)  # a card without overrideReasons, dismissed
    assert api.post(commented, bare).status_code == 200
    first, second = store.feedback_items()
    assert first["user_comment"] == "patient on it for years" and first["override_code"] is None
    assert second["override_code"] is None and second["user_comment"] is None


def test_feedback_is_attributed_to_the_issuing_rule(api: FeedbackApi, store: Store) -> None:
    topic = {"code": "baclofen-dantrolene-combination"}
    card = {"uuid": "c-7", "indicator": "warning", "source": {"topic": topic}}
    store.record_cards("order-sign", [card], FIXED_NOW)
    assert api.post(item(card="c-7")).status_code == 200
    assert store.feedback_items()[0]["rule_id"] == "baclofen-dantrolene-combination"
    assert store.report()["rules"]["baclofen-dantrolene-combination"]["overridden"] == 1


def test_repeated_items_are_stored_once(api: FeedbackApi, store: Store) -> None:
    assert api.post(item(), item()).status_code == 200
    assert api.post(item()).status_code == 200  # a client retry
    assert store.feedback_count() == 1


def test_batch_and_empty_batch(api: FeedbackApi, store: Store) -> None:
    items = [item(card=f"c-{i}") for i in range(50)]
    assert api.post(*items).status_code == 200
    assert api.post().status_code == 200
    assert store.feedback_count() == 50


def test_structured_json_content_type_accepted(api: FeedbackApi, store: Store) -> None:
    body = json.dumps({"feedback": [item()]})
    response = api.post_raw(body, "application/fhir+json; charset=utf-8")
    assert response.status_code == 200
    assert store.feedback_count() == 1


def test_extra_properties_are_tolerated(api: FeedbackApi) -> None:
    extended = item(extension={"example.org/x": 1}, somethingNew=True)
    assert api.post(extended).status_code == 200


# -- rejected ----------------------------------------------------------------------------------------


def test_unknown_service_is_404(api: FeedbackApi, store: Store) -> None:
    response = api.post(item(), url="/cds-services/no-such-service/feedback")
    assert response.status_code == 404
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"
    assert "no-such-service" in outcome["issue"][0]["diagnostics"]
    assert store.feedback_count() == 0


@pytest.mark.parametrize(
    ("bad_item", "field", "words"),
    [
        (item(card=None), "feedback[0].card", "is required"),
        (item(card=""), "feedback[0].card", "must not be empty"),
        (item(card=42), "feedback[0].card", "type string"),
        (item(outcome="ignored"), "feedback[0].outcome", "one of 'accepted', 'overridden'"),
        (item(outcome=None), "feedback[0].outcome", "is required"),
        (item(outcome="accepted", overrideReason=None), "feedback[0].acceptedSuggestions", "when outcome"),
        (item(outcome="accepted", acceptedSuggestions=[]), "feedback[0].acceptedSuggestions", "not be empty"),
        (item(outcome="accepted", acceptedSuggestions=[{}]), f"{ACCEPTED}[0].id", "required"),
        (item(overrideReason={}), "feedback[0].overrideReason", "reason, a userComment"),
        (item(overrideReason={"reason": {"code": "x"}}), f"{REASON}.system", "required"),
        (item(overrideReason={"reason": {"system": SYSTEM}}), f"{REASON}.code", "required"),
        (item(overrideReason="too busy"), "feedback[0].overrideReason", "type object"),
        (item(outcomeTimestamp=None), "feedback[0].outcomeTimestamp", "is required"),
        (item(outcomeTimestamp="2026-11-21T13:49:48"), "feedback[0].outcomeTimestamp", "RFC 3339"),
        (item(outcomeTimestamp="21/11/2026"), "feedback[0].outcomeTimestamp", "RFC 3339"),
        (item(outcomeTimestamp="2026-13-45T13:49:48Z"), "feedback[0].outcomeTimestamp", "valid RFC 3339"),
        (item(card="x" * 201), "feedback[0].card", "longer than 200"),
        ("not an object", "feedback[0]", "type object"),
    ],
)
def test_invalid_item_is_400_naming_the_field(
    api: FeedbackApi, store: Store, bad_item: Any, field: str, words: str
) -> None:
    response = api.post(bad_item)
    assert_bad_request(response, field, words)
    assert store.feedback_count() == 0


def test_error_names_the_item_in_a_batch(api: FeedbackApi, store: Store) -> None:
    response = api.post(item(card="ok-1"), item(card="ok-2"), item(outcome="maybe"))
    assert_bad_request(response, "feedback[2].outcome", "one of")
    assert store.feedback_count() == 0  # a batch is all or nothing


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "feedback", "is required"),
        ({"feedback": {"card": "x"}}, "feedback", "type array"),
        ([{"card": "x"}], "body", "JSON object"),
    ],
)
def test_invalid_envelope_is_400(api: FeedbackApi, body: Any, field: str, words: str) -> None:
    assert_bad_request(api.post_json(body), field, words)


def test_more_than_1000_items_is_400(api: FeedbackApi, store: Store) -> None:
    response = api.post(*[item(card=f"c-{i}") for i in range(1001)])
    assert_bad_request(response, "feedback", "more than 1000 items")
    assert store.feedback_count() == 0


def test_malformed_json_is_400(api: FeedbackApi) -> None:
    response = api.post_raw('{"feedback": [')
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["issue"][0]["diagnostics"]


def diagnostics(response: Any) -> str:
    return str(response.get_json()["issue"][0]["diagnostics"])


def test_non_finite_numbers_are_not_json(api: FeedbackApi) -> None:
    response = api.post_raw('{"feedback": [], "x": NaN}')
    assert response.status_code == 400
    assert "not valid JSON" in diagnostics(response)


def test_nesting_beyond_the_limit_is_400(api: FeedbackApi) -> None:
    limit = 64  # Config.max_json_depth
    within = '{"feedback": [], "x": ' + "[" * (limit - 1) + "]" * (limit - 1) + "}"
    beyond = '{"feedback": [], "x": ' + "[" * limit + "]" * limit + "}"
    assert api.post_raw(within).status_code == 200
    response = api.post_raw(beyond)
    assert response.status_code == 400
    assert "nested deeper than 64" in diagnostics(response)


def test_nesting_that_exhausts_the_parser_is_400_not_500(api: FeedbackApi) -> None:
    response = api.post_raw('{"feedback": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert response.status_code == 400
    assert "nested deeper" in diagnostics(response)


def test_non_json_content_type_is_415(api: FeedbackApi) -> None:
    response = api.post_raw("feedback=1", "application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_body_over_the_limit_is_413(feedback_app: Flask, api: FeedbackApi) -> None:
    feedback_app.config["MAX_CONTENT_LENGTH"] = 1024
    response = api.post(*[item(card=f"c-{i}") for i in range(20)])
    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_get_is_405(api: FeedbackApi) -> None:
    response = api.get()
    assert response.status_code == 405
    assert response.get_json()["resourceType"] == "OperationOutcome"
