"""medication_entries: one test per shape a client or FHIR server sends, in every version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from spasticity_cds.fhir import DSTU2, R4, STU3, medication_entries, models, resources_of
from spasticity_cds.records import Coding, Concept, Dosage, MedicationEntry

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
BACLOFEN = {"coding": [{"system": RXNORM, "code": "197391", "display": "Baclofen 10 MG Oral Tablet"}]}
BACLOFEN_CONCEPT = Concept(codings=(Coding(RXNORM, "197391", "Baclofen 10 MG Oral Tablet"),))
ORAL = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}]}
ORAL_CONCEPT = Concept(codings=(Coding("http://snomed.info/sct", "26643006", "Oral route"),))


def one(resources: list[Any], **kwargs: Any) -> MedicationEntry:
    kwargs.setdefault("origin", "record")
    kwargs.setdefault("medications", {})
    entries = medication_entries(resources, **kwargs)
    assert len(entries) == 1, entries
    return entries[0]


def r4_request(**fields: Any) -> dict[str, Any]:
    base = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": BACLOFEN,
    }
    return {**base, **fields}


def r4_dosage(**fields: Any) -> dict[str, Any]:
    return {
        "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg", "system": UCUM, "code": "mg"}}],
        **fields,
    }


# --- the captured sandbox traffic ---------------------------------------------------------------


def test_sandbox_lioresal_draft(sandbox: Callable[[str], dict[str, Any]]) -> None:
    drafts = resources_of(sandbox("order-select-baclofen-lioresal")["context"]["draftOrders"])
    entry = one(drafts or [], origin="draft")
    assert entry == MedicationEntry(
        ref="MedicationRequest/request-123",
        resource_type="MedicationRequest",
        fhir_version=R4,
        origin="draft",
        status="draft",
        medication=Concept(
            codings=(Coding(RXNORM, "202109", "Baclofen 10 MG Oral Tablet [Lioresal]"),),
            text="Baclofen 10 MG Oral Tablet [Lioresal]",
        ),
        dosages=(Dosage(dose_value=1.0, dose_unit="{pill}", frequency=1.0, period=1.0, period_unit="d"),),
        authored="2026-11-21",
    )
    assert entry.raw is (drafts or [])[0]
    assert entry.resource_id == "request-123"


def test_sandbox_first_call_has_no_drug(sandbox: Callable[[str], dict[str, Any]]) -> None:
    drafts = resources_of(sandbox("order-select-first-call-no-drug")["context"]["draftOrders"])
    entry = one(drafts or [], origin="draft")
    assert (entry.medication, entry.dosages, entry.status, entry.fhir_version) == (None, (), "draft", R4)


def test_sandbox_after_suggestion(sandbox: Callable[[str], dict[str, Any]]) -> None:
    drafts = resources_of(sandbox("order-select-after-suggestion-applied")["context"]["draftOrders"])
    entry = one(drafts or [], origin="draft")
    assert entry.medication is not None and entry.medication.codings[0].code == "197391"


def test_sandbox_order_sign(sandbox: Callable[[str], dict[str, Any]]) -> None:
    request = sandbox("order-sign-baclofen-with-prefetch")
    drafts = one(resources_of(request["context"]["draftOrders"]) or [], origin="draft")
    assert drafts.dosages[0].dose_unit == "{pill}"
    assert (
        medication_entries(resources_of(request["prefetch"]["meds"]), origin="record", medications={}) == []
    )


# --- DSTU2 MedicationOrder ----------------------------------------------------------------------


def test_dstu2_medication_order() -> None:
    order = {
        "resourceType": "MedicationOrder",
        "id": "order-123",
        "status": "on-hold",
        "dateWritten": "2016-05-01",
        "patient": {"reference": "Patient/p1"},
        "medicationCodeableConcept": BACLOFEN,
        "reasonCodeableConcept": {"text": "Muscle spasm"},
        "dosageInstruction": [
            {
                "text": "10 mg every 8 hours as needed, at most 4 times a day",
                "route": ORAL,
                "asNeededBoolean": True,
                "timing": {"repeat": {"frequency": 1, "frequencyMax": 4, "period": 1, "periodUnits": "d"}},
                "doseQuantity": {"value": 10, "unit": "milligram", "system": UCUM, "code": "mg"},
            }
        ],
    }
    entry = one([order])
    assert entry == MedicationEntry(
        ref="MedicationOrder/order-123",
        resource_type="MedicationOrder",
        fhir_version=DSTU2,
        origin="record",
        status="on-hold",
        medication=BACLOFEN_CONCEPT,
        dosages=(
            Dosage(
                dose_value=10.0,
                dose_unit="mg",
                frequency=4.0,
                period=1.0,
                period_unit="d",
                as_needed=True,
                route=ORAL_CONCEPT,
                text="10 mg every 8 hours as needed, at most 4 times a day",
            ),
        ),
        reasons=(Concept(text="Muscle spasm"),),
        authored="2016-05-01",
    )


def test_dstu2_order_dose_range_and_reason_reference_in_bundle() -> None:
    condition = {"resourceType": "Condition", "id": "c1", "code": {"text": "Spasticity"}}
    order = {
        "resourceType": "MedicationOrder",
        "id": "o2",
        "status": "stopped",
        "medicationCodeableConcept": BACLOFEN,
        "reasonReference": {"reference": "Condition/c1", "display": "ignored: the Condition is here"},
        "dosageInstruction": [
            {
                "doseRange": {"low": {"value": 5, "code": "mg"}, "high": {"value": 10, "code": "mg"}},
                "timing": {"repeat": {"period": 8, "periodUnits": "h"}},
            }
        ],
    }
    entry = one([condition, order])
    assert entry.status == "stopped"
    assert entry.reasons == (Concept(text="Spasticity"),)
    assert entry.dosages == (
        Dosage(dose_value=10.0, dose_unit="mg", frequency=1.0, period=8.0, period_unit="h"),
    )
    assert entry.ref == "MedicationOrder/o2"


# --- STU3 and R4 MedicationRequest --------------------------------------------------------------


def test_stu3_medication_request_validated_as_stu3() -> None:
    request = {
        "resourceType": "MedicationRequest",
        "id": "s1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2018-03-01T09:30:00Z",
        "context": {"reference": "Encounter/e1"},
        "medicationCodeableConcept": BACLOFEN,
        "reasonCode": [{"text": "Spasticity"}],
        "dosageInstruction": [
            {
                "route": ORAL,
                "doseQuantity": {"value": 5, "unit": "mg", "code": "mg"},
                "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
            }
        ],
    }
    assert models.validated(request, STU3) is not None
    entry = one([request], origin="draft")
    assert (entry.fhir_version, entry.authored, entry.reasons) == (
        STU3,
        "2018-03-01T09:30:00Z",
        (Concept(text="Spasticity"),),
    )
    assert entry.dosages == (
        Dosage(
            dose_value=5.0, dose_unit="mg", frequency=3.0, period=1.0, period_unit="d", route=ORAL_CONCEPT
        ),
    )


def test_r4_dose_and_rate_array() -> None:
    entry = one([r4_request(dosageInstruction=[r4_dosage(route=ORAL)], doNotPerform=True)])
    assert entry.do_not_perform is True
    assert entry.dosages == (
        Dosage(
            dose_value=10.0, dose_unit="mg", frequency=3.0, period=1.0, period_unit="d", route=ORAL_CONCEPT
        ),
    )


def test_r4_dose_and_rate_single_object_and_unit_fallback() -> None:
    dosage = r4_dosage(doseAndRate={"doseQuantity": {"value": 2, "unit": "tablet"}})
    entry = one([r4_request(dosageInstruction=dosage)])  # dosageInstruction as an object, too
    assert entry.dosages[0].dose_value == 2.0 and entry.dosages[0].dose_unit == "tablet"


def test_r4_dose_range_counts_at_high() -> None:
    dosage = r4_dosage(
        doseAndRate=[
            {
                "type": {"text": "ordered"},
                "doseRange": {"low": {"value": 5, "code": "mg"}, "high": {"value": 15, "code": "mg"}},
            }
        ]
    )
    assert one([r4_request(dosageInstruction=[dosage])]).dosages[0].dose_value == 15.0


def test_as_needed_counts_frequency_max() -> None:
    dosage = r4_dosage(
        asNeededCodeableConcept={"text": "spasm"},
        timing={"repeat": {"frequency": 1, "frequencyMax": 3, "period": 6, "periodUnit": "h"}},
    )
    found = one([r4_request(dosageInstruction=[dosage])]).dosages[0]
    assert (found.as_needed, found.frequency, found.period, found.period_unit) == (True, 3.0, 6.0, "h")


def test_scheduled_dose_keeps_frequency_and_defaults_to_one_per_period() -> None:
    scheduled = r4_dosage(
        timing={"repeat": {"frequency": 2, "frequencyMax": 3, "period": 1, "periodUnit": "d"}}
    )
    no_frequency = r4_dosage(timing={"repeat": {"period": 12, "periodUnit": "h"}})
    no_timing = r4_dosage(timing=None)
    found = one([r4_request(dosageInstruction=[scheduled, no_frequency, no_timing])]).dosages
    assert [(d.frequency, d.period, d.period_unit) for d in found] == [
        (2.0, 1.0, "d"),
        (1.0, 12.0, "h"),
        (None, None, None),
    ]


def test_empty_dosages_are_dropped() -> None:
    assert one([r4_request(dosageInstruction=[{}, "x", None, {"timing": {}}])]).dosages == ()


# --- medicationReference ------------------------------------------------------------------------


def test_contained_medication() -> None:
    request = r4_request(
        medicationCodeableConcept=None,
        medicationReference={"reference": "#med"},
        contained=[{"resourceType": "Medication", "id": "med", "code": BACLOFEN}],
    )
    del request["medicationCodeableConcept"]
    assert one([request], origin="draft").medication == BACLOFEN_CONCEPT


def test_bundle_medication() -> None:
    medication = {"resourceType": "Medication", "id": "m1", "code": BACLOFEN}
    request = {
        k: v
        for k, v in r4_request(medicationReference={"reference": "Medication/m1"}).items()
        if k != "medicationCodeableConcept"
    }
    assert one([medication, request]).medication == BACLOFEN_CONCEPT


def test_prefetch_medication_absolute_reference() -> None:
    medication = {"resourceType": "Medication", "id": "m1", "code": BACLOFEN}
    request = {
        k: v
        for k, v in r4_request(
            medicationReference={"reference": "https://ehr.example.org/fhir/Medication/m1/_history/3"}
        ).items()
        if k != "medicationCodeableConcept"
    }
    entry = one([request], medications={"Medication/m1": medication})
    assert entry.medication == BACLOFEN_CONCEPT


def test_unresolvable_reference_keeps_display() -> None:
    request = {
        k: v
        for k, v in r4_request(
            medicationReference={"reference": "Medication/elsewhere", "display": "Lioresal 10 mg"}
        ).items()
        if k != "medicationCodeableConcept"
    }
    assert one([request]).medication == Concept(text="Lioresal 10 mg")
    del request["medicationReference"]["display"]
    assert one([request]).medication is None


def test_reference_to_wrong_type_is_not_a_drug() -> None:
    patient = {"resourceType": "Patient", "id": "m1"}
    request = {
        k: v
        for k, v in r4_request(medicationReference={"reference": "#m1"}, contained=[patient]).items()
        if k != "medicationCodeableConcept"
    }
    assert one([request]).medication is None


# --- reasons ------------------------------------------------------------------------------------


def test_reasons_codes_contained_and_unresolved_references() -> None:
    request = r4_request(
        reasonCode={
            "coding": [{"system": "http://snomed.info/sct", "code": "221360009", "display": "Spasticity"}]
        },
        reasonReference=[
            {"reference": "#c1"},
            {"reference": "Condition/other", "display": "Muscle spasm"},
            {"reference": "Condition/silent"},
        ],
        contained=[{"resourceType": "Condition", "id": "c1", "code": {"text": "ALS"}}],
    )
    assert one([request]).reasons == (
        Concept(codings=(Coding("http://snomed.info/sct", "221360009", "Spasticity"),)),
        Concept(text="ALS"),
        Concept(text="Muscle spasm"),
    )


# --- MedicationStatement of each version --------------------------------------------------------


def test_r4_medication_statement() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": "intended",
        "subject": {"reference": "Patient/p1"},
        "dateAsserted": "2026-01-02",
        "medicationCodeableConcept": BACLOFEN,
        "basedOn": [{"reference": "MedicationRequest/mr1"}],
        "derivedFrom": [
            {"reference": "https://ehr.example.org/fhir/MedicationRequest/mr1"},
            {"reference": "Observation/o1"},
        ],
        "reasonCode": [{"text": "Spasticity"}],
        "dosage": [r4_dosage()],
    }
    entry = one([statement])
    assert (entry.fhir_version, entry.status, entry.authored, entry.do_not_perform) == (
        R4,
        "intended",
        "2026-01-02",
        False,
    )
    assert entry.based_on == ("MedicationRequest/mr1", "Observation/o1")
    assert entry.dosages[0].dose_value == 10.0 and entry.reasons == (Concept(text="Spasticity"),)


def test_r4_statement_not_taken_is_negated() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms2",
        "status": "not-taken",
        "medicationCodeableConcept": BACLOFEN,
    }
    assert one([statement]).do_not_perform is True


def test_stu3_medication_statement() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms3",
        "status": "active",
        "taken": "n",
        "effectivePeriod": {"start": "2017-05-01"},
        "medicationReference": {"reference": "#m"},
        "contained": [{"resourceType": "Medication", "id": "m", "code": BACLOFEN}],
        "dosage": [
            {
                "doseQuantity": {"value": 20, "code": "mg"},
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            }
        ],
    }
    entry = one([statement])
    assert (entry.fhir_version, entry.do_not_perform, entry.authored) == (STU3, True, "2017-05-01")
    assert entry.medication == BACLOFEN_CONCEPT
    assert entry.dosages == (
        Dosage(dose_value=20.0, dose_unit="mg", frequency=2.0, period=1.0, period_unit="d"),
    )


def test_dstu2_medication_statement() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms4",
        "status": "active",
        "wasNotTaken": False,
        "patient": {"reference": "Patient/p1"},
        "dateAsserted": "2015-02-03",
        "medicationCodeableConcept": BACLOFEN,
        "reasonForUseCodeableConcept": {"text": "Spasticity"},
        "dosage": [
            {
                "quantityQuantity": {"value": 10, "code": "mg"},
                "asNeededBoolean": True,
                "timing": {"repeat": {"frequency": 1, "frequencyMax": 3, "period": 1, "periodUnits": "d"}},
            }
        ],
    }
    entry = one([statement])
    assert (entry.fhir_version, entry.do_not_perform, entry.reasons) == (
        DSTU2,
        False,
        (Concept(text="Spasticity"),),
    )
    assert entry.dosages == (
        Dosage(dose_value=10.0, dose_unit="mg", frequency=3.0, period=1.0, period_unit="d", as_needed=True),
    )
    assert one([dict(statement, wasNotTaken=True)]).do_not_perform is True


# --- identity, versions, selection --------------------------------------------------------------


def test_missing_id_gets_a_stable_synthetic_ref() -> None:
    request = {k: v for k, v in r4_request().items() if k != "id"}
    entries = medication_entries(
        [{"resourceType": "Patient"}, request, request], origin="draft", medications={}
    )
    assert [e.ref for e in entries] == ["MedicationRequest/#1", "MedicationRequest/#2"]
    assert entries[0].resource_id == "#1"


def test_other_types_and_non_objects_are_skipped() -> None:
    resources = [
        {"resourceType": "Patient", "id": "p"},
        "MedicationRequest",
        None,
        3,
        {"resourceType": "Medication", "id": "m"},
        r4_request(),
    ]
    assert [e.ref for e in medication_entries(resources, origin="record", medications={})] == [
        "MedicationRequest/mr1"
    ]
    assert medication_entries(None, origin="record", medications={}) == []


def test_siblings_and_hint_settle_an_ambiguous_request() -> None:
    bare = {"resourceType": "MedicationRequest", "id": "bare", "status": "active"}
    stu3 = {
        "resourceType": "MedicationRequest",
        "id": "s",
        "dosageInstruction": [{"doseQuantity": {"value": 1}}],
    }
    by_sibling = medication_entries([bare, stu3], origin="draft", medications={})
    assert [e.fhir_version for e in by_sibling] == [STU3, STU3]
    assert one([bare], hint="4.0.1").fhir_version == R4
    assert one([bare], hint="STU3").fhir_version == STU3


def test_valid_drafts_go_through_the_model_and_records_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    original = models.validated

    def spy(resource: dict[str, Any], version: str) -> dict[str, Any] | None:
        result = original(resource, version)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(models, "validated", spy)
    valid = r4_request(dosageInstruction=[r4_dosage()])
    loose = r4_request(dosageInstruction=[r4_dosage()], category={"coding": [{"code": "community"}]})
    draft_entries = medication_entries([valid, loose], origin="draft", medications={})
    assert calls == [True, False]
    assert draft_entries[0].dosages == draft_entries[1].dosages
    medication_entries([valid], origin="record", medications={})
    assert calls == [True, False]
    medication_entries([valid], origin="record", medications={}, validate=True)
    assert calls == [True, False, True]
