"""Optional data (cards/services.yaml `optional_data`): the patient's birth date and FVC results.

A 412 silences every card of an order. A client that prefetches what an older discovery document
asked for (conditions, medications, labs) and sends no fhirServer, or a FHIR server that fails on
the Patient read alone, must still get the cards of every rule that does not need the missing data;
the age and FVC criteria then judge without it (clinical-rules.md: no birth date, no age rule).
A required key that cannot be had is still a 412.
"""

from __future__ import annotations

from typing import Any

from spasticity_cds.validation import validator
from tests.api.helpers import PATIENT, TOKEN, als_condition, hook_request, order, url_for
from tests.support.fhir_stub import FhirStub, StubResponse, searchset

DIAZEPAM = ("197591", "Diazepam 5 MG Oral Tablet")


def _empty() -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}


def _old_prefetch() -> dict[str, Any]:
    """What a client configured from the first release's discovery document prefetches."""
    return {
        "conditions": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": als_condition()}],
        },
        "medicationRequests": _empty(),
        "medicationStatements": _empty(),
        "liverLabs": _empty(),
        "renalLabs": _empty(),
    }


def _topics(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert not [e.message for e in validator("cds-response.schema.json").iter_errors(body)]
    return [c["source"]["topic"]["code"] for c in body["cards"]]


def _missing_metric(client: Any, key: str) -> float:
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(f'cds_optional_data_missing_total{{key="{key}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_without_patient_and_fvc_keys_and_without_a_server_the_other_rules_still_speak(client: Any) -> None:
    before = _missing_metric(client, "patient")
    body = hook_request("order-sign", [order("R4", DIAZEPAM)], prefetch=_old_prefetch())
    topics = _topics(client.post(url_for("order-sign"), json=body))
    assert "benzodiazepine-spasticity" in topics  # ALS on the problem list: the card still shows
    assert "older-adult-benzodiazepine" not in topics  # no birth date, no age rule
    assert _missing_metric(client, "patient") == before + 1


def test_a_server_failing_on_the_patient_read_alone_costs_only_the_age_rules(
    client: Any, fhir: FhirStub
) -> None:
    fhir.route(f"/Patient/{PATIENT}", StubResponse(status=500, body={"resourceType": "OperationOutcome"}))
    fhir.route("/Condition", searchset([als_condition()]))
    fhir.route("/MedicationRequest", searchset([]))
    fhir.route("/MedicationStatement", searchset([]))
    fhir.route("/Observation", searchset([]))
    body = hook_request("order-sign", [order("R4", DIAZEPAM)], fhir_server=fhir.base_url, token=TOKEN)
    topics = _topics(client.post(url_for("order-sign"), json=body))
    assert "benzodiazepine-spasticity" in topics
    assert fhir.requests_to(f"/Patient/{PATIENT}"), "the Patient read was tried"


def test_a_required_key_that_cannot_be_had_is_still_a_412(client: Any) -> None:
    prefetch = _old_prefetch()
    del prefetch["conditions"]
    body = hook_request("order-sign", [order("R4", DIAZEPAM)], prefetch=prefetch)
    response = client.post(url_for("order-sign"), json=body)
    assert response.status_code == 412
    assert "conditions" in response.get_json()["issue"][0]["diagnostics"]
