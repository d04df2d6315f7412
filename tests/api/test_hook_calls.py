"""POST /cds-services/<id> end to end: the sandbox's exact traffic, three hooks x three FHIR
versions, and the prefetch -> FHIR server fallback (token, paging, timeout, errors -> 412) against
a real HTTP stub FHIR server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from spasticity_cds.validation import validator
from tests.api.helpers import (
    AMLODIPINE,
    BACLOFEN,
    DIAZEPAM,
    PATIENT,
    TOKEN,
    als_condition,
    bundle,
    hook_request,
    order,
    sandbox,
    topics,
    url_for,
)
from tests.support.fhir_stub import FhirStub, StubResponse, searchset

MED_KEY = {"DSTU2": "medicationOrders", "STU3": "medicationRequests", "R4": "medicationRequests"}


def valid_cards(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    errors = [e.message for e in validator("cds-response.schema.json").iter_errors(body)]
    assert not errors, errors
    return body  # type: ignore[no-any-return]


def serve_patient(fhir: FhirStub, *, medications: list[dict[str, Any]] | None = None) -> None:
    """The ALS patient's record on the stub: ALS, the given active orders, no statements, no labs."""
    fhir.route(f"/Patient/{PATIENT}", StubResponse(body={"resourceType": "Patient", "id": PATIENT}))
    fhir.route("/Condition", searchset([als_condition()]))
    fhir.route("/MedicationRequest", searchset(medications or []))
    fhir.route("/MedicationStatement", searchset([]))
    fhir.route("/Observation", searchset([]))


def with_stub(body: dict[str, Any], fhir: FhirStub) -> dict[str, Any]:
    body["fhirServer"] = fhir.base_url
    return body


# -- the sandbox's own traffic ----------------------------------------------------------------------


def test_sandbox_first_call_without_a_drug_answers_no_cards_and_fetches_nothing(
    client: Any, fhir: FhirStub
) -> None:
    body = with_stub(sandbox("order-select-first-call-no-drug"), fhir)
    assert valid_cards(client.post(url_for("order-select"), json=body)) == {"cards": []}
    assert fhir.requests == []


@pytest.mark.parametrize(
    ("name", "hook"),
    [("order-select-baclofen-lioresal", "order-select"),
     ("order-select-after-suggestion-applied", "order-select"),
     ("order-sign-baclofen-with-prefetch", "order-sign")],
)  # fmt: skip
def test_sandbox_baclofen_requests_against_the_patients_fhir_server(
    client: Any, fhir: FhirStub, name: str, hook: str
) -> None:
    active_diazepam = order("R4", DIAZEPAM, status="active", ident="rx-diazepam")
    serve_patient(fhir, medications=[active_diazepam])
    body = valid_cards(client.post(url_for(hook), json=with_stub(sandbox(name), fhir)))
    assert "cns-depressant-combination" in topics(body)
    assert fhir.requests, "what was not prefetched is fetched from fhirServer"
    if name == "order-sign-baclofen-with-prefetch":  # conditions were prefetched: not fetched again
        assert fhir.requests_to("/Condition") == []


def test_amlodipine_costs_no_fhir_call_even_without_prefetch(client: Any, fhir: FhirStub) -> None:
    for hook in ("order-select", "order-sign", "medication-prescribe"):
        body = hook_request(hook, [order("R4", AMLODIPINE)], fhir_server=fhir.base_url, token=TOKEN)
        assert valid_cards(client.post(url_for(hook), json=body)) == {"cards": []}
    assert fhir.requests == []


# -- three hooks x three FHIR versions -----------------------------------------------------------------


@pytest.mark.parametrize("version", ["DSTU2", "STU3", "R4"])
@pytest.mark.parametrize("hook", ["order-select", "order-sign", "medication-prescribe"])
def test_benzodiazepine_in_als_on_baclofen(client: Any, hook: str, version: str) -> None:
    draft = order(version, DIAZEPAM)
    baclofen = order(version, BACLOFEN, status="active", ident="rx-baclofen")
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT},
        "conditions": bundle(als_condition(version), searchset=True),
        MED_KEY[version]: bundle(baclofen, searchset=True),
        "medicationStatements": {"resourceType": "Bundle", "type": "searchset", "total": 0},
        "lungFunctionLabs": {"resourceType": "Bundle", "type": "searchset", "total": 0},
    }
    body = valid_cards(client.post(url_for(hook), json=hook_request(hook, [draft], prefetch=prefetch)))
    cards = {card["source"]["topic"]["code"]: card for card in body["cards"]}
    assert {"benzodiazepine-spasticity", "cns-depressant-combination"} <= set(cards)
    assert cards["benzodiazepine-spasticity"]["indicator"] == "warning"  # ALS context

    actions = [a for s in cards["benzodiazepine-spasticity"]["suggestions"] for a in s["actions"]]
    updates = [a["resource"] for a in actions if a["type"] == "update"]
    assert updates, "a replacement of the draft is suggested"
    assert all(r["resourceType"] == draft["resourceType"] and r["id"] == draft["id"] for r in updates)
    # baclofen is already taken: the replacement offered is not baclofen
    assert all("baclofen" not in r["medicationCodeableConcept"]["text"].lower() for r in updates)

    removals = [a for s in cards["cns-depressant-combination"]["suggestions"] for a in s["actions"]]
    assert removals and all(
        a["type"] == "delete" and a["resourceId"] == f"{draft['resourceType']}/{draft['id']}"
        for a in removals
    )


# -- prefetch, then the FHIR server -----------------------------------------------------------------


def test_missing_prefetch_is_fetched_with_the_bearer_token(client: Any, fhir: FhirStub) -> None:
    serve_patient(fhir, medications=[order("R4", BACLOFEN, status="active", ident="rx-baclofen")])
    body = hook_request("order-sign", [order("R4", DIAZEPAM)], fhir_server=fhir.base_url, token=TOKEN)
    assert "cns-depressant-combination" in topics(valid_cards(client.post(url_for("order-sign"), json=body)))
    fetched = {r.path for r in fhir.requests}
    assert {"/Condition", "/MedicationRequest", "/MedicationStatement"} <= fetched
    assert all(r.query.get("patient") == [PATIENT] for r in fhir.requests if r.path != f"/Patient/{PATIENT}")
    assert {r.header("Authorization") for r in fhir.requests} == {f"Bearer {TOKEN}"}


def test_no_token_means_no_authorization_header(client: Any, fhir: FhirStub) -> None:
    serve_patient(fhir)
    body = hook_request("order-sign", [order("R4", DIAZEPAM)], fhir_server=fhir.base_url)
    valid_cards(client.post(url_for("order-sign"), json=body))
    assert fhir.requests and all(r.header("Authorization") is None for r in fhir.requests)


def test_next_links_are_followed(client: Any, fhir: FhirStub) -> None:
    serve_patient(fhir)
    other = order("R4", AMLODIPINE, status="active", ident="rx-amlodipine")
    fhir.pages("/MedicationRequest", [[other], [order("R4", BACLOFEN, status="active", ident="rx-baclofen")]])
    body = hook_request("order-sign", [order("R4", DIAZEPAM)], fhir_server=fhir.base_url, token=TOKEN)
    result = valid_cards(client.post(url_for("order-sign"), json=body))
    assert "cns-depressant-combination" in topics(result), "baclofen is on page 2"
    assert [r.query.get("_page") for r in fhir.requests_to("/MedicationRequest")] == [None, ["2"]]


def test_a_hanging_fhir_server_costs_the_timeout_and_answers_412(
    make_app: Callable[..., Flask], fhir: FhirStub
) -> None:
    client = make_app(fhir_timeout=0.5).test_client()
    serve_patient(fhir)
    fhir.route("/Condition", StubResponse(hang=True))
    body = hook_request("order-sign", [order("R4", DIAZEPAM)], fhir_server=fhir.base_url, token=TOKEN)
    started = time.monotonic()
    response = client.post(url_for("order-sign"), json=body)
    elapsed = time.monotonic() - started
    assert response.status_code == 412, response.get_data(as_text=True)
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert elapsed < 2.0, f"took {elapsed:.2f} s with CDS_FHIR_TIMEOUT=0.5"


def test_a_fhir_server_error_answers_412_naming_the_data(client: Any, fhir: FhirStub) -> None:
    serve_patient(fhir)
    fhir.route("/MedicationRequest", StubResponse(status=500, body={"error": "boom"}))
    body = hook_request("order-sign", [order("R4", DIAZEPAM)], fhir_server=fhir.base_url, token=TOKEN)
    response = client.post(url_for("order-sign"), json=body)
    assert response.status_code == 412, response.get_data(as_text=True)
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "medicationRequests" in outcome["issue"][0]["diagnostics"]
    assert "boom" not in response.get_data(as_text=True)


def test_relevant_order_with_neither_prefetch_nor_fhir_server_is_412(client: Any) -> None:
    response = client.post(url_for("order-sign"), json=hook_request("order-sign", [order("R4", DIAZEPAM)]))
    assert response.status_code == 412
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert response.headers.get("Access-Control-Allow-Origin")


def test_cards_issued_are_recorded_for_feedback(app: Flask) -> None:
    prefetch = {
        "conditions": bundle(als_condition(), searchset=True),
        "medicationRequests": bundle(order("R4", BACLOFEN, status="active", ident="rx-b"), searchset=True),
        "medicationStatements": None,
        "patient": {"resourceType": "Patient"},  # no birth date: no age rule
        "lungFunctionLabs": None,  # second set of rules: FVC % predicted
    }
    body = hook_request("order-sign", [order("R4", DIAZEPAM)], prefetch=prefetch)
    result = valid_cards(app.test_client().post(url_for("order-sign"), json=body))
    assert app.extensions["cds"].writer.flush(timeout=5)  # recorded off the request path
    report = app.extensions["cds"].store.report()
    for rule in topics(result):
        assert report["rules"][rule]["issued"] == 1


@pytest.mark.parametrize("ident", [None, "", "has space"])
def test_delete_suggestion_for_a_draft_without_a_valid_id(client: Any, ident: str | None) -> None:
    draft = order("R4", DIAZEPAM)
    if ident is None:
        del draft["id"]
    else:
        draft["id"] = ident
    prefetch = {
        "conditions": bundle(als_condition(), searchset=True),
        "medicationRequests": bundle(order("R4", BACLOFEN, status="active", ident="rx-b"), searchset=True),
        "medicationStatements": None,
        "patient": {"resourceType": "Patient"},  # no birth date: no age rule
        "lungFunctionLabs": None,  # second set of rules: FVC % predicted
    }
    body = hook_request("order-sign", [order("R4", AMLODIPINE)], prefetch=prefetch)
    body["context"]["draftOrders"] = bundle(draft)
    valid_cards(client.post(url_for("order-sign"), json=body))
