"""medicationReference on real records (issue 10): included Medications, the batched fallback for the
ones still missing, compounded Medications counted by ingredient, and NDC-only codes.

End to end through the app, with a real HTTP FHIR stub on loopback for the fallback."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spasticity_cds.fhir import unresolved_medication_ids
from tests.support.fhir_stub import FhirStub, StubResponse, searchset

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASE = "cns-depressant-combination/fires-stu3-sign-diazepam-active-baclofen-by-included-medication"


@pytest.fixture
def fhir() -> Iterator[FhirStub]:
    with FhirStub() as stub:
        yield stub


def _request_without_included_medication(fhir: FhirStub) -> dict[str, Any]:
    body = json.loads((GOLDEN / f"{CASE}.request.json").read_text())
    body = copy.deepcopy(body)
    bundle = body["prefetch"]["medicationRequests"]
    medication = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Medication")
    bundle["entry"].remove(medication)
    # a second order pointing at another Medication the prefetch lacks
    second = copy.deepcopy(
        next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest")
    )
    second["resource"]["id"] = "active-bac-2"
    second["resource"]["medicationReference"] = {"reference": "Medication/med-bac-2"}
    bundle["entry"].append(second)
    body["fhirServer"] = fhir.base_url
    return body


def _topics(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [c["source"]["topic"]["code"] for c in response.get_json()["cards"]]


def test_missing_medications_are_fetched_in_one_batched_search(client: Any, fhir: FhirStub) -> None:
    body = _request_without_included_medication(fhir)
    medication = {
        "resourceType": "Medication",
        "id": "med-bac",
        "code": {"text": "Baclofen 10 MG Oral Tablet"},
    }
    fhir.route("/Medication", searchset([medication]))
    topics = _topics(client.post("/cds-services/spasticity-order-sign", json=body))
    assert "cns-depressant-combination" in topics
    calls = fhir.requests_to("/Medication")
    assert len(calls) == 1 and len(fhir.requests) == 1  # nothing else was fetched
    assert calls[0].query["_id"] == ["med-bac,med-bac-2"]


def test_a_failed_fallback_leaves_the_orders_unrecognised_not_the_request_failed(
    client: Any, fhir: FhirStub
) -> None:
    body = _request_without_included_medication(fhir)
    fhir.route("/Medication", StubResponse(status=500))
    topics = _topics(client.post("/cds-services/spasticity-order-sign", json=body))
    assert "cns-depressant-combination" not in topics


def test_no_fallback_when_the_prefetch_included_the_medications(client: Any, fhir: FhirStub) -> None:
    body = json.loads((GOLDEN / f"{CASE}.request.json").read_text())
    body["fhirServer"] = fhir.base_url
    assert "cns-depressant-combination" in _topics(
        client.post("/cds-services/spasticity-order-sign", json=body)
    )
    assert fhir.requests == []


def test_unresolved_ids_skip_contained_bundled_and_coded_orders() -> None:
    orders = [
        {
            "resourceType": "MedicationRequest",
            "id": "a",
            "medicationReference": {"reference": "Medication/m1"},
        },
        {
            "resourceType": "MedicationRequest",
            "id": "b",
            "medicationReference": {"reference": "#c1"},
            "contained": [{"resourceType": "Medication", "id": "c1"}],
        },
        {
            "resourceType": "MedicationStatement",
            "id": "c",
            "medicationReference": {"reference": "http://ehr.example/fhir/Medication/m2"},
        },
        {"resourceType": "MedicationRequest", "id": "d", "medicationCodeableConcept": {"text": "baclofen"}},
        {"resourceType": "MedicationOrder", "id": "e", "medicationReference": {"reference": "Medication/m3"}},
        {"resourceType": "Medication", "id": "m3"},
    ]
    assert unresolved_medication_ids(orders, {}) == ["m1", "m2"]
    assert unresolved_medication_ids(
        orders, {"Medication/m1": {"resourceType": "Medication", "id": "m1"}}
    ) == ["m2"]


def test_templates_include_the_referenced_medications(knowledge: Any) -> None:
    for key, kind in (
        ("medicationRequests", "MedicationRequest"),
        ("medicationOrders", "MedicationOrder"),
        ("medicationStatements", "MedicationStatement"),
    ):
        assert f"_include={kind}:medication" in knowledge.templates[key]
