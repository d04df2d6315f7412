"""Shared request builders and constants of the prefetch tests."""

from __future__ import annotations

from typing import Any

PATIENT_ID = "pat-7c1e"
TOKEN = "tok-s3cret-7f9a"

TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "meds": "MedicationRequest?patient={{context.patientId}}&status=active",
    "labs": (
        "Observation?patient={{context.patientId}}&code=http://loinc.org|1742-6,http://loinc.org|1920-8"
        "&_sort=-date&_count=50"
    ),
    "statements": "MedicationStatement?patient={{context.patientId}}",
    "encounter": "Encounter/{{context.encounterId}}",
    "prescriber": "Practitioner/{{userPractitionerId}}",
}


def hook_request(
    fhir_server: str | None = None,
    *,
    prefetch: dict[str, Any] | None = None,
    token: str | None = TOKEN,
    **context: Any,
) -> dict[str, Any]:
    """An order-sign request as an EHR would send it."""
    request: dict[str, Any] = {
        "hook": "order-sign",
        "hookInstance": "0b7b3c4e-8a51-4a38-9f0e-2d1c5e6f7a80",
        "context": {
            "userId": "Practitioner/prac-1",
            "patientId": PATIENT_ID,
            "draftOrders": {"resourceType": "Bundle", "entry": []},
            **context,
        },
    }
    if fhir_server is not None:
        request["fhirServer"] = fhir_server
        if token is not None:
            request["fhirAuthorization"] = {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "user/*.read",
                "subject": "spasticity-cds",
            }
    if prefetch is not None:
        request["prefetch"] = prefetch
    return request
