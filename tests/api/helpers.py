"""Requests, records and FHIR shapes shared by the API tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "tests" / "fixtures" / "sandbox"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
PATIENT = "pat-als-1"
TOKEN = "sandbox-access-token-7d1f"
SERVICE_OF_HOOK = {
    "order-select": "spasticity-order-select",
    "order-sign": "spasticity-order-sign",
    "medication-prescribe": "spasticity-medication-prescribe",
}
DIAZEPAM = ("197591", "Diazepam 5 MG Oral Tablet")
BACLOFEN = ("197391", "Baclofen 10 MG Oral Tablet")
AMLODIPINE = ("197361", "Amlodipine 5 MG Oral Tablet")


def sandbox(name: str) -> dict[str, Any]:
    """A request captured from the CDS Hooks sandbox (tests/fixtures/sandbox/<name>.json)."""
    return json.loads((SANDBOX / f"{name}.json").read_text(encoding="utf-8"))


def url_for(hook: str) -> str:
    return f"/cds-services/{SERVICE_OF_HOOK[hook]}"


def medication(code: str, display: str) -> dict[str, Any]:
    return {"text": display, "coding": [{"system": RXNORM, "code": code, "display": display}]}


def order(
    version: str, drug: tuple[str, str], *, status: str = "draft", ident: str | None = None
) -> dict[str, Any]:
    """A medication order in the shape of `version`: DSTU2 MedicationOrder, STU3/R4 MedicationRequest."""
    dose = {"value": 1, "unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tbl}"}
    timing = {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}
    if version == "DSTU2":
        return {
            "resourceType": "MedicationOrder", "id": ident or "order-123", "status": status,
            "patient": {"reference": f"Patient/{PATIENT}"}, "dateWritten": "2026-11-21",
            "medicationCodeableConcept": medication(*drug),
            "dosageInstruction": [{"timing": timing, "doseQuantity": dose}],
        }  # fmt: skip
    dosage: dict[str, Any] = {"timing": timing}
    if version == "R4":
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    else:
        dosage["doseQuantity"] = dose
    return {
        "resourceType": "MedicationRequest", "id": ident or "request-123", "status": status,
        "intent": "order", "subject": {"reference": f"Patient/{PATIENT}"}, "authoredOn": "2026-11-21",
        "medicationCodeableConcept": medication(*drug), "dosageInstruction": [dosage],
    }  # fmt: skip


def als_condition(version: str = "R4") -> dict[str, Any]:
    condition: dict[str, Any] = {
        "resourceType": "Condition", "id": "cond-als",
        "code": {
            "coding": [{"system": SNOMED, "code": "86044005", "display": "Amyotrophic lateral sclerosis"}],
        },
    }  # fmt: skip
    condition["patient" if version == "DSTU2" else "subject"] = {"reference": f"Patient/{PATIENT}"}
    return condition


def bundle(*resources: dict[str, Any], searchset: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {"resourceType": "Bundle"}
    if searchset:
        result["type"] = "searchset"
    result["entry"] = [{"resource": r} for r in resources]
    return result


def hook_request(
    hook: str,
    drafts: list[dict[str, Any]],
    *,
    prefetch: dict[str, Any] | None = None,
    fhir_server: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """A hook request as an EHR sends it; for order-select every draft is selected."""
    context: dict[str, Any] = {"userId": "Practitioner/COREPRACTITIONER1", "patientId": PATIENT}
    field = "medications" if hook == "medication-prescribe" else "draftOrders"
    context[field] = bundle(*copy.deepcopy(drafts))
    if hook == "order-select":
        context["selections"] = [f"{d['resourceType']}/{d['id']}" for d in drafts]
    body: dict[str, Any] = {"hookInstance": "e1a7c0de-0000-4000-8000-00000000abcd", "hook": hook}
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    body["context"] = context
    if token is not None:
        body["fhirAuthorization"] = {
            "access_token": token, "token_type": "Bearer", "expires_in": 300,
            "scope": "patient/*.* user/*.* launch openid profile online_access", "subject": "spasticity-cds",
        }  # fmt: skip
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def topics(response_json: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in response_json["cards"]]
