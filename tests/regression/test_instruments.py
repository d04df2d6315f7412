"""Unit tests of the regression set's own parts: the FHIR search executor, the oracle and the
drafts. They guard the instruments; test_synthea.py uses them on the whole extract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from . import harness, oracle
from .drafts import REGIMENS, build_draft
from .fhir_search import PatientServer, UnsupportedQuery, fill_template


# ----------------------------------------------------------------------------- search executor
def _server() -> PatientServer:
    entries: list[dict[str, Any]] = [
        {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1"}},
        {
            "fullUrl": "urn:uuid:m1",
            "resource": {"resourceType": "Medication", "id": "m1", "code": {"text": "x"}},
        },
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "status": "active",
                "subject": {"reference": "urn:uuid:p1"},
                "medicationReference": {"reference": "urn:uuid:m1"},
            }
        },
        {
            "resource": {
                "resourceType": "Observation",
                "id": "o1",
                "subject": {"reference": "urn:uuid:p1"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3"}]},
                "effectiveDateTime": "2019-01-01",
            }
        },
        {
            "resource": {
                "resourceType": "Observation",
                "id": "o2",
                "subject": {"reference": "urn:uuid:p1"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3"}]},
                "effectiveDateTime": "2019-06-01",
            }
        },
    ]
    return PatientServer(entries, "STU3")


def test_executor_answers_like_a_server() -> None:
    server = _server()
    patient = server.execute("Patient/p1")
    assert patient is not None and patient["id"] == "p1"
    meds = server.execute("MedicationRequest?patient=p1&status=active&_include=MedicationRequest:medication")
    assert meds is not None
    assert [e["search"]["mode"] for e in meds["entry"]] == ["match", "include"]
    assert meds["entry"][0]["resource"]["medicationReference"]["reference"] == "Medication/m1"
    assert meds["entry"][0]["resource"]["id"]  # a server assigns an id on create
    labs = server.execute("Observation?patient=p1&code=http://loinc.org|33914-3&_sort=-date&_count=1")
    assert labs is not None and labs["total"] == 2 and [e["resource"]["id"] for e in labs["entry"]] == ["o2"]
    assert server.execute("Observation?patient=p1&code=http://loinc.org|62238-1")["total"] == 0  # type: ignore[index]
    assert server.execute("MedicationOrder?patient=p1&status=active") is None  # no such type in STU3
    assert server.execute("MedicationRequest?patient=other")["total"] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    "query",
    [
        "Observation?patient=p1&category=laboratory",
        "Observation?patient=p1&date=ge2019-01-01",
        "Condition?patient=p1&clinical-status=active",
        "MedicationRequest?patient=p1&_revinclude=Provenance:target",
        "MedicationRequest?patient=p1&_include=MedicationRequest:requester",
        "Condition?patient=p1&_sort=-onset-date",
        "Encounter?patient=p1",
        "Observation?patient=p1&code=http://loinc.org|",
    ],
)
def test_executor_fails_loudly_on_what_it_does_not_know(query: str) -> None:
    with pytest.raises(UnsupportedQuery):
        _server().execute(query)


def test_template_tokens_other_than_context_fail() -> None:
    assert fill_template("Patient/{{context.patientId}}", {"patientId": "p1"}) == "Patient/p1"
    with pytest.raises(UnsupportedQuery):
        fill_template("Observation?patient={{context.patientId}}&date=ge{{today}}", {"patientId": "p1"})


# ------------------------------------------------------------------------------------- oracle
NOW = datetime(2019, 6, 1, tzinfo=UTC)


def _condition(code: str, display: str, **extra: object) -> dict:
    return {
        "resourceType": "Condition",
        "id": code,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]},
        **extra,
    }


def test_oracle_reads_the_spec_words() -> None:
    diazepam = REGIMENS["diazepam"][0]
    tbi = _condition("275272006", "Brain damage - traumatic", clinicalStatus="active")
    concussion = _condition("62106007", "Concussion with no loss of consciousness", clinicalStatus="active")
    ended = _condition("275272006", "Brain damage - traumatic", abatementDateTime="2010-01-01")
    assert oracle.expect([tbi], diazepam, NOW).rules == {"benzodiazepine-spasticity"}
    assert oracle.expect([concussion], diazepam, NOW).rules == set()
    assert oracle.expect([ended], diazepam, NOW).rules == set()
    anxiety = next(r for r in REGIMENS["diazepam"] if r.reason == "Anxiety")
    assert oracle.expect([tbi], anxiety, NOW).rules == set()
    baclofen_80 = next(r for r in REGIMENS["baclofen"] if r.daily_mg == 80)
    assert oracle.expect([], baclofen_80, NOW).rules == set()  # baclofen alone is no documented context
    assert oracle.expect([tbi], baclofen_80, NOW).rules == {"intrathecal-baclofen-consideration"}


def test_oracle_recognises_medication_references_and_lab_codes() -> None:
    med = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"coding": [{"display": "Clonazepam [Klonopin]"}]},
    }
    order = {
        "resourceType": "MedicationRequest",
        "id": "r1",
        "status": "active",
        "medicationReference": {"reference": "Medication/m1"},
    }
    baclofen = REGIMENS["baclofen"][0]
    assert "cns-depressant-combination" in oracle.expect([med, order], baclofen, NOW).rules
    egfr = {
        "resourceType": "Observation",
        "id": "o1",
        "effectiveDateTime": "2019-05-01",
        "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3"}]},
        "valueQuantity": {"value": 22, "unit": "mL/min/{1.73_m2}"},
    }
    assert "baclofen-renal-impairment" in oracle.expect([egfr], baclofen, NOW).rules
    old = dict(egfr, effectiveDateTime="2019-03-02")  # 91 days before NOW: outside the window
    assert "baclofen-renal-impairment" not in oracle.expect([old], baclofen, NOW).rules
    edge = dict(egfr, effectiveDateTime="2019-03-03")  # exactly 90 days: inside
    assert "baclofen-renal-impairment" in oracle.expect([edge], baclofen, NOW).rules


def test_drafts_are_valid_shapes_per_version() -> None:
    for version, kind in (
        ("R4", "MedicationRequest"),
        ("STU3", "MedicationRequest"),
        ("DSTU2", "MedicationOrder"),
    ):
        for regimens in REGIMENS.values():
            for regimen in regimens:
                draft = build_draft(regimen, version, patient_id="p1", authored="2019-06-01", draft_id="d1")
                assert draft["resourceType"] == kind
                dosage = draft["dosageInstruction"][0]
                assert ("doseAndRate" in dosage) == (version == "R4")
                assert ("periodUnits" in str(dosage)) == (version == "DSTU2" and not regimen.timing_code)


def test_the_disagreement_list_is_well_formed() -> None:
    for d in harness.load_disagreements():
        assert d.rule in oracle.RULES and d.blame in ("service", "oracle", "spec") and len(d.reason) > 80
