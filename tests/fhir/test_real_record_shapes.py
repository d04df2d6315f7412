"""Shapes from real records (issue 10) read at the FHIR edge and turned into facts: Timing.code
without repeat, packet doses, abatement without clinical status, ingredient-only Medications,
default upper limits for results without range or flag."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from spasticity_cds.facts import active_conditions, daily_mg, latest_labs
from spasticity_cds.fhir import condition_entries, medication_entries, observation_entries
from spasticity_cds.records import Concept

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _order(dosage: dict[str, Any], medication: dict[str, Any] | None = None) -> Any:
    resource = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": medication
        or {"coding": [{"system": RXNORM, "code": "197391", "display": "Baclofen 10 MG Oral Tablet"}]},
        "dosageInstruction": [dosage],
    }
    return medication_entries([resource], origin="draft", medications={}, validate=False)[0]


def _timed(code: str, dose: float = 10, unit: str = "mg") -> dict[str, Any]:
    return {
        "timing": {"code": {"text": code}},
        "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit}}],
    }


@pytest.mark.parametrize(
    ("code", "per_day"),
    [
        ("BID", 20),
        ("tid", 30),
        ("QID", 40),
        ("QD", 10),
        ("QOD", 5),
        ("Q6H", 40),
        ("Q8H", 30),
        ("WK", 10 / 7),
        ("Q12H", 20),
        ("HS", 10),
    ],
)
def test_timing_code_without_repeat_gives_the_frequency(knowledge: Any, code: str, per_day: float) -> None:
    t = knowledge.terminology
    entry = _order(_timed(code))
    assert entry.dosages[0].timing_code == code.upper()
    assert daily_mg(entry, t.recognise(entry.medication), t) == pytest.approx(per_day, rel=1e-5)


def test_unknown_timing_code_or_repeat_wins(knowledge: Any) -> None:
    t = knowledge.terminology
    entry = _order(_timed("AC"))  # a meal event: says when, not how often
    assert daily_mg(entry, t.recognise(entry.medication), t) is None
    both = _timed("BID")
    both["timing"]["repeat"] = {"frequency": 3, "period": 1, "periodUnit": "d"}
    entry = _order(both)
    assert entry.dosages[0].timing_code is None
    assert daily_mg(entry, t.recognise(entry.medication), t) == 30


def test_packets_are_counted_with_the_strength_in_the_name(knowledge: Any) -> None:
    t = knowledge.terminology
    dosage = {
        "timing": {"repeat": {"frequency": 5, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "packet"}}],
    }
    entry = _order(dosage, {"text": "Baclofen 20 MG per packet oral granules"})
    assert daily_mg(entry, t.recognise(entry.medication), t) == 100


def _condition(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "275272006"}]},
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "active"),
    [
        ({"abatementDateTime": "2026-01-01"}, False),
        ({"abatementPeriod": {"start": "2025-01-01", "end": "2025-06-01"}}, False),
        ({"abatementBoolean": True}, False),
        ({"abatementDateTime": "2027-06-01"}, True),  # abates in the future: still active
        ({"abatementString": "in childhood"}, True),  # cannot be placed in time
        ({"abatementDateTime": "2026-01-01", "clinicalStatus": "active"}, True),  # the status decides
        ({}, True),
    ],
)
def test_abatement_in_the_past_without_status_ends_a_condition(
    knowledge: Any, fields: dict[str, Any], active: bool
) -> None:
    entries = condition_entries([_condition(**fields)])
    found = active_conditions(entries, knowledge.terminology, knowledge.condition_valuesets, NOW)
    assert bool(found) is active


def test_concussion_is_no_spasticity_disorder_but_brain_damage_is(knowledge: Any) -> None:
    t = knowledge.terminology
    sets = knowledge.condition_valuesets
    concussion = Concept(text="Concussion with loss of consciousness")
    assert not t.valuesets_of(concussion, sets)
    assert "traumatic-brain-injury" in t.valuesets_of(Concept(text="Brain damage - traumatic"), sets)
    assert "cerebral-palsy" in t.valuesets_of(Concept(text="Spastic quadriplegic cerebral palsy"), sets)


def test_an_ingredient_only_medication_counts_by_its_ingredients(knowledge: Any) -> None:
    medication = {
        "resourceType": "Medication",
        "id": "cmp",
        "ingredient": [
            {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "1292", "display": "Baclofen"}]}},
            {"itemCodeableConcept": {"text": "Ora-Plus suspending vehicle"}},
        ],
    }
    order = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "Medication/cmp"},
    }
    entry = medication_entries([order], origin="record", medications={"Medication/cmp": medication})[0]
    recognition = knowledge.terminology.recognise(entry.medication)
    assert recognition is not None and recognition.ingredients == {"baclofen"}


def _alt(value: float, unit: str = "U/L", **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"alt-{value}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
        "effectiveDateTime": "2026-11-11T09:00:00Z",
        "valueQuantity": {"value": value, "unit": unit},
        **fields,
    }


@pytest.mark.parametrize(
    ("resource", "high"),
    [
        (_alt(300), 40),  # neither range nor flag: the default upper limit
        (_alt(300, "IU/L"), 40),
        (_alt(300, "ukat/L"), None),  # another unit: not judged
        (_alt(300, referenceRange=[{"high": {"value": 55, "unit": "U/L"}}]), 55),  # its own range
        (_alt(300, interpretation=[{"coding": [{"code": "N"}]}]), None),  # a flag speaks for itself
    ],
)
def test_default_upper_limit_applies_only_without_range_and_flag(
    knowledge: Any, resource: dict[str, Any], high: float | None
) -> None:
    t = knowledge.terminology
    observations = observation_entries([resource], wanted=t.is_lab_of_interest)
    assert latest_labs(observations, t, NOW, 90)["alt"].range_high == high
