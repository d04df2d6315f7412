"""Consumer "ehr-order-sign": an EHR's order-sign integration, for the clinically meaningful cases.

- diazepam for an ALS patient, data on the EHR's FHIR server (no prefetch) -> exactly one warning
  card, rule `benzodiazepine-spasticity`, whose suggestions update the draft order in place;
- an unrelated order (amlodipine) -> no cards, and no FHIR call (the recorded fhirServer is not
  served during verification);
- a request without `context` -> 400 with an OperationOutcome naming `context`.

Writes tests/contracts/pacts/ehr-order-sign-spasticity-cds.json (spec V4).
"""

from __future__ import annotations

from typing import Any

import requests
from pact import Pact, match

from .common import (
    JSON_HEADERS,
    NO_CARDS,
    PACT_DIR,
    PROVIDER,
    REQUESTS,
    RULE_SYSTEM,
    exactly,
    hook_request,
    load,
    operation_outcome,
)

CONSUMER = "ehr-order-sign"
SIGN = "/cds-services/spasticity-order-sign"
ALS_STATE = "the FHIR server has patient pat-als-2 with ALS, no medications and no labs"

# What an EHR relies on to show the card and apply a suggestion; prose is matched by type only.
BENZODIAZEPINE_CARD: dict[str, Any] = {
    "uuid": match.uuid("2f6d1f1e-7b1c-4d7e-9a5e-1c2b3d4e5f60"),
    "summary": match.regex(
        "Diazepam in ALS: guidance favours baclofen or tizanidine for spasticity", regex=r"^.{1,139}$"
    ),
    "indicator": "warning",
    "detail": match.str("**Found**\n- **New order**: Diazepam 5 MG Oral Tablet ..."),
    "source": {
        "label": match.str("Spasticity CDS"),
        "topic": {
            "system": RULE_SYSTEM,
            "code": "benzodiazepine-spasticity",
            "display": match.str("Benzodiazepine for spasticity"),
        },
    },
    "selectionBehavior": "at-most-one",
    "suggestions": match.each_like(
        {
            "label": match.str("Replace with baclofen 5 mg three times daily"),
            "uuid": match.uuid("8c1a3e55-0f5b-4a36-9f0e-2d7c6b5a4e31"),
            "actions": match.each_like(
                {
                    "type": exactly("update"),
                    "description": match.str("Change the draft order to baclofen 5 mg ..."),
                    "resource": {
                        "resourceType": exactly("MedicationRequest"),
                        "id": exactly("draft-diazepam-1"),
                        "status": exactly("draft"),
                        "subject": {"reference": exactly("Patient/pat-als-2")},
                        "medicationCodeableConcept": {
                            "text": match.str("baclofen 5 MG Oral Tablet"),
                            "coding": match.each_like(
                                {
                                    "system": exactly("http://www.nlm.nih.gov/research/umls/rxnorm"),
                                    "code": match.regex("197390", regex=r"^\d+$"),
                                }
                            ),
                        },
                    },
                },
                min=1,
            ),
        },
        min=1,
    ),
    "overrideReasons": match.each_like(
        {
            "system": match.str("http://spasticity-cds.org/fhir/CodeSystem/override-reason"),
            "code": match.str("other-indication"),
            "display": match.str("Prescribed for another indication"),
        },
        min=1,
    ),
}


def _define(pact: Pact) -> list[tuple[dict[str, Any], int]]:
    calls: list[tuple[dict[str, Any], int]] = []

    diazepam = load(REQUESTS / "ehr-order-sign-diazepam-als.json")
    (
        pact.upon_receiving("an order-sign of oral diazepam for an ALS patient, data on the FHIR server")
        .given(ALS_STATE)
        .with_request("POST", SIGN)
        .with_headers(JSON_HEADERS)
        .with_body(hook_request(diazepam, fhir_from_state=True), content_type="application/json")
        .will_respond_with(200)
        .with_header("Content-Type", "application/json")
        .with_body({"cards": [BENZODIAZEPINE_CARD]}, content_type="application/json")
    )
    calls.append((diazepam, 200))

    amlodipine = load(REQUESTS / "ehr-order-sign-amlodipine.json")
    (
        pact.upon_receiving("an order-sign of an unrelated drug (amlodipine)")
        .with_request("POST", SIGN)
        .with_headers(JSON_HEADERS)
        .with_body(hook_request(amlodipine), content_type="application/json")
        .will_respond_with(200)
        .with_header("Content-Type", "application/json")
        .with_body(NO_CARDS, content_type="application/json")
    )
    calls.append((amlodipine, 200))

    missing = load(REQUESTS / "ehr-order-sign-missing-context.json")
    (
        pact.upon_receiving("an order-sign request without context")
        .with_request("POST", SIGN)
        .with_headers(JSON_HEADERS)
        .with_body(hook_request(missing), content_type="application/json")
        .will_respond_with(400)
        .with_header("Content-Type", "application/json")
        .with_body(operation_outcome("context", "context is required"), content_type="application/json")
    )
    calls.append((missing, 400))
    return calls


def test_ehr_order_sign_consumer_pact() -> None:
    pact = Pact(CONSUMER, PROVIDER).with_specification("V4")
    calls = _define(pact)
    with pact.serve() as server, requests.Session() as session:
        for body, status in calls:
            response = session.post(f"{server.url}{SIGN}", json=body, headers=JSON_HEADERS, timeout=10)
            assert response.status_code == status, response.text
            answer = response.json()
            if status == 400:
                assert answer["resourceType"] == "OperationOutcome"
                assert "context" in answer["issue"][0]["diagnostics"]
            elif body["context"]["draftOrders"]["entry"][0]["resource"]["id"] == "draft-diazepam-1":
                (card,) = answer["cards"]
                assert card["source"]["topic"]["code"] == "benzodiazepine-spasticity"
                action = card["suggestions"][0]["actions"][0]
                assert action["type"] == "update" and action["resource"]["id"] == "draft-diazepam-1"
            else:
                assert answer == NO_CARDS
    pact.write_file(PACT_DIR, overwrite=True)
