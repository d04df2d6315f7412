"""`medication_entries(wanted=...)`: the drug is read once, and a rejected resource is not read.

The callback sees every order and statement's drug (resolved through medicationReference as the
record's own reader resolves it); what it keeps carries that very concept, what it rejects is gone.
"""

from __future__ import annotations

from typing import Any

from spasticity_cds.fhir import medication_entries
from spasticity_cds.records import Concept


def _request(ident: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": ident, "status": "active", "intent": "order", **fields}


BACLOFEN = {"coding": [{"system": "http://example.org/drugs", "code": "b", "display": "baclofen"}]}
OTHER = {"text": "amlodipine 5 mg tablet"}


def test_kept_entries_carry_the_drug_the_callback_saw() -> None:
    seen: list[Concept | None] = []

    def wanted(drug: Concept | None) -> bool:
        seen.append(drug)
        return drug is not None and drug.text != "amlodipine 5 mg tablet"

    resources = [
        _request("a", medicationCodeableConcept=BACLOFEN),
        _request("b", medicationCodeableConcept=OTHER),
        {"resourceType": "Medication", "id": "m", "code": {"text": "tizanidine 4 mg"}},
        _request("c", medicationReference={"reference": "Medication/m"}),
        _request("d", medicationReference={"reference": "Medication/gone", "display": "diazepam"}),
        {"resourceType": "Condition", "id": "x", "code": OTHER},
    ]
    entries = medication_entries(resources, origin="record", medications={}, wanted=wanted)
    assert [e.ref for e in entries] == ["MedicationRequest/a", "MedicationRequest/c", "MedicationRequest/d"]
    assert len(seen) == 4  # each order once; the Medication and the Condition are not orders
    assert [e.medication for e in entries] == [seen[0], seen[2], seen[3]]
    assert all(e.medication is s for e, s in zip(entries, [seen[0], seen[2], seen[3]], strict=True))
    assert entries[1].medication == Concept(text="tizanidine 4 mg")
    assert entries[2].medication == Concept(text="diazepam")


def test_validated_reading_gives_the_same_records() -> None:
    resources = [
        _request("a", medicationCodeableConcept=BACLOFEN),
        _request("b", medicationCodeableConcept=OTHER),
    ]
    plain = medication_entries(resources, origin="record", medications={}, wanted=lambda d: True)
    validated = medication_entries(
        resources, origin="record", medications={}, wanted=lambda d: True, validate=True
    )
    assert validated == plain
