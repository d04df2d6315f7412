"""Property: whatever JSON sits in the draft orders or the prefetch of an otherwise valid hook
request, the service answers 200, 400 or 412, never a 5xx, and every 200 is a valid CDS response.

This drives the FHIR edge (lenient parsing of DSTU2 / STU3 / R4 and loose shapes), the facts,
the rules and the card renderer through HTTP, with drafts that start from real orders (baclofen,
diazepam, dantrolene, tizanidine in all three FHIR versions) and have any field replaced by
arbitrary JSON, next to resources made up from scratch. Deterministic (`derandomize=True`).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spasticity_cds.validation import validator

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PATIENT = "pat-als-1"
DRUGS = [
    ("197591", "Diazepam 5 MG Oral Tablet"),
    ("197391", "Baclofen 10 MG Oral Tablet"),
    ("284635", "Dantrolene sodium 25 MG Oral Capsule"),
    ("313393", "Tizanidine 4 MG Oral Tablet"),
]
SETTINGS = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
FHIR_KEYS = [
    "resourceType", "id", "status", "intent", "subject", "patient", "medicationCodeableConcept",
    "medicationReference", "dosageInstruction", "doseAndRate", "doseQuantity", "timing", "repeat",
    "frequency", "period", "periodUnit", "route", "coding", "code", "system", "display", "text",
    "reasonCode", "clinicalStatus", "verificationStatus", "valueQuantity", "effectiveDateTime",
    "entry", "resource", "link", "contained", "reference", "doNotPerform", "value", "unit",
]  # fmt: skip
MUTABLE_KEYS = [key for key in FHIR_KEYS if key != "id"]
RESOURCE_TYPES = [
    "MedicationRequest", "MedicationOrder", "MedicationStatement", "Medication", "Condition",
    "Observation", "Patient", "Bundle", "OperationOutcome", "ServiceRequest",
]  # fmt: skip
PREFETCH_KEYS = [
    "patient", "conditions", "medicationRequests", "medicationOrders", "medicationStatements",
    "liverLabs", "renalLabs", "other",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "draft", "active", "mg", "d", "oral", "Diazepam", "baclofen", RXNORM, "197591"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FHIR_KEYS) | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def _order(version: str, code: str, display: str) -> dict[str, Any]:
    """A complete draft order of `display` in the shape of `version`."""
    dose: dict[str, Any] = {
        "value": 1,
        "unit": "tablet",
        "system": "http://unitsofmeasure.org",
        "code": "{tbl}",
    }
    timing = {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}
    medication = {"text": display, "coding": [{"system": RXNORM, "code": code, "display": display}]}
    if version == "DSTU2":
        return {
            "resourceType": "MedicationOrder", "id": "order-123", "status": "draft",
            "patient": {"reference": f"Patient/{PATIENT}"}, "medicationCodeableConcept": medication,
            "dosageInstruction": [{"timing": timing, "doseQuantity": dose}],
        }  # fmt: skip
    dosage: dict[str, Any] = {"timing": timing}
    if version == "R4":
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    else:
        dosage["doseQuantity"] = dose
    return {
        "resourceType": "MedicationRequest", "id": "request-123", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"}, "medicationCodeableConcept": medication,
        "dosageInstruction": [dosage],
    }  # fmt: skip


@st.composite
def mutated_orders(draw: st.DrawFn) -> dict[str, Any]:
    """A real draft order with some fields replaced by, or added as, arbitrary JSON."""
    version = draw(st.sampled_from(["DSTU2", "STU3", "R4"]))
    order = _order(version, *draw(st.sampled_from(DRUGS)))
    # The id stays valid: a draft without a valid FHIR id is a known gap of the delete suggestion
    # (tests/api/test_hook_calls.py::test_delete_suggestion_for_a_draft_without_a_valid_id).
    changes = draw(st.dictionaries(st.sampled_from(MUTABLE_KEYS), json_values, max_size=3))
    for key, value in changes.items():
        if key != "resourceType" or draw(st.booleans()):
            order[key] = value
    return order


made_up_resources = st.builds(
    lambda rtype, rest: {**rest, "resourceType": rtype},
    st.sampled_from(RESOURCE_TYPES),
    st.dictionaries(st.sampled_from(FHIR_KEYS), json_values, max_size=5),
)
resources = mutated_orders() | made_up_resources | json_values


def bundle_of(items: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    entries = st.lists(st.builds(lambda r: {"resource": r}, items) | json_values, max_size=4)
    return st.builds(lambda e: {"resourceType": "Bundle", "entry": e}, entries) | st.builds(
        lambda e: {"resourceType": "Bundle", "type": "searchset", "entry": e}, entries
    )


draft_orders = (
    st.builds(lambda orders: {"resourceType": "Bundle", "entry": [{"resource": o} for o in orders]},
              st.lists(mutated_orders(), min_size=1, max_size=3))
    | bundle_of(resources)
    | mutated_orders()
    | made_up_resources
)  # fmt: skip
prefetch_values = st.none() | bundle_of(resources) | made_up_resources
ALS = {
    "resourceType": "Condition", "id": "cond-als", "subject": {"reference": f"Patient/{PATIENT}"},
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "86044005", "display": "ALS"}]},
}  # fmt: skip
ACTIVE_BACLOFEN = {
    "resourceType": "MedicationStatement", "id": "ms-baclofen", "status": "active",
    "subject": {"reference": f"Patient/{PATIENT}"},
    "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "197391"}]},
}  # fmt: skip


@st.composite
def complete_prefetches(draw: st.DrawFn) -> dict[str, Any]:
    """Every key a rule may need, with the patient's ALS and baclofen among arbitrary resources,
    so that relevant drafts reach the rules and the cards instead of stopping at a 412."""
    prefetch: dict[str, Any] = {}
    for key in PREFETCH_KEYS:
        extra = draw(st.lists(resources, max_size=2))
        known = [ALS] if key == "conditions" else [ACTIVE_BACLOFEN] if key == "medicationStatements" else []
        entries = [{"resource": r} for r in [*known, *extra]]
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    return prefetch


prefetches = complete_prefetches() | st.dictionaries(
    st.sampled_from(PREFETCH_KEYS), prefetch_values, max_size=5
)


def _request(hook: str, drafts: Any, prefetch: dict[str, Any] | None) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/prac-1", "patientId": PATIENT}
    context["medications" if hook == "medication-prescribe" else "draftOrders"] = drafts
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/request-123", "MedicationOrder/order-123"]
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": "5f1c9d7e-0000-4000-8000-000000000001",
        "context": context,
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def test_arbitrary_drafts_and_prefetch_never_cause_a_server_error(make_app: Callable[..., Flask]) -> None:
    # No fhirServer: what is not prefetched cannot be fetched, so a relevant order may get a 412.
    client = make_app(log_level="WARNING").test_client()
    statuses: Counter[int | str] = Counter()
    response_schema = validator("cds-response.schema.json")

    @SETTINGS
    @given(
        hook=st.sampled_from(["order-select", "order-sign", "medication-prescribe"]),
        drafts=draft_orders,
        prefetch=prefetches | st.none(),
    )
    def run(hook: str, drafts: Any, prefetch: dict[str, Any] | None) -> None:
        body = _request(hook, copy.deepcopy(drafts), prefetch)
        response = client.post(f"/cds-services/spasticity-{hook}", json=body)
        statuses[response.status_code] += 1
        assert response.status_code in {200, 400, 412}, (
            response.status_code,
            response.get_data(as_text=True),
        )
        payload = response.get_json()
        if response.status_code == 200:
            statuses["with cards"] += bool(payload["cards"])
            errors = [e.message for e in response_schema.iter_errors(payload)]
            assert not errors, errors
        else:
            assert payload["resourceType"] == "OperationOutcome"

    run()
    calls = statuses[200] + statuses[400] + statuses[412]
    print(f"\npipeline property: {calls} requests, {dict(statuses)}")
    assert calls >= 100
    assert statuses["with cards"] > 0, "no generated request got through to the rules"
