"""Unit tests of the regression set's own parts: the FHIR search executor, the oracle and the
drafts. They guard the instruments; test_synthea.py uses them on the whole extract."""

from __future__ import annotations

import dataclasses
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


# ------------------------------------------------------------------------- oracle, second set
def _patient(born: str | None, gender: str = "female") -> dict:
    p: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "gender": gender}
    if born:
        p["birthDate"] = born
    return p


def _active(display: str, code: str | None = None, status: str = "active") -> dict:
    coding: dict[str, str] = {"display": display}
    if code:
        coding = {"system": oracle.RXNORM, "code": code, "display": display}
    return {
        "resourceType": "MedicationRequest",
        "id": display.replace(" ", "-"),
        "status": status,
        "medicationCodeableConcept": {"coding": [coding]},
    }


def _egfr(value: float) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"egfr-{value}",
        "effectiveDateTime": "2019-05-01",
        "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3"}]},
        "valueQuantity": {"value": value, "unit": "mL/min/{1.73_m2}"},
    }


def test_oracle_takes_age_at_the_order_date() -> None:
    diazepam = REGIMENS["diazepam"][0]
    assert "older-adult-benzodiazepine" in oracle.expect([_patient("1954-06-01")], diazepam, NOW).rules
    assert "older-adult-benzodiazepine" not in oracle.expect([_patient("1954-06-02")], diazepam, NOW).rules
    assert "older-adult-benzodiazepine" not in oracle.expect([_patient(None)], diazepam, NOW).rules
    anxiety = next(r for r in REGIMENS["diazepam"] if r.reason == "Anxiety")  # not an exempt reason
    assert "older-adult-benzodiazepine" in oracle.expect([_patient("1940-01-01")], anxiety, NOW).rules
    for reason, exempt in (("Seizure cluster", True), ("Procedural sedation", True), ("Sedation", False)):
        regimen = dataclasses.replace(diazepam, reason=reason)
        fired = "older-adult-benzodiazepine" in oracle.expect([_patient("1940-01-01")], regimen, NOW).rules
        assert fired is not exempt, reason


def test_oracle_renal_bands_and_precedence() -> None:
    baclofen = REGIMENS["baclofen"][0]
    old, young = _patient("1940-01-01"), _patient("1980-01-01")
    assert oracle.expect([old, _egfr(45)], baclofen, NOW).rules == {"baclofen-older-adult-renal"}
    assert oracle.expect([young, _egfr(59.5)], baclofen, NOW).rules == {"baclofen-renal-dose-adjustment"}
    assert oracle.expect([_patient(None), _egfr(30)], baclofen, NOW).rules == {
        "baclofen-renal-dose-adjustment"
    }
    assert oracle.expect([old, _egfr(29)], baclofen, NOW).rules == {"baclofen-renal-impairment"}
    assert oracle.expect([old, _egfr(60)], baclofen, NOW).rules == set()
    ckd3 = _condition("433144002", "Chronic kidney disease stage 3 (disorder)", clinicalStatus="active")
    assert oracle.expect([old, ckd3], baclofen, NOW).rules == {"baclofen-older-adult-renal"}
    assert oracle.expect([old, ckd3, _egfr(75)], baclofen, NOW).rules == set()  # an eGFR in the window
    assert oracle.expect([young, ckd3, _egfr(75)], baclofen, NOW).rules == {"baclofen-renal-dose-adjustment"}


def test_oracle_second_set_comedications() -> None:
    tizanidine, dantrolene, diazepam = (
        REGIMENS["tizanidine"][0],
        REGIMENS["dantrolene"][0],
        REGIMENS["diazepam"][0],
    )
    woman_40 = _patient("1979-01-01")
    pill = _active("Trinessa 28 Day Pack", "751905")
    patch = _active(
        "168 HR Ethinyl Estradiol 0.00146 MG/HR / norelgestromin 0.00625 MG/HR Transdermal System"
    )
    assert "tizanidine-cyp1a2-inhibitor" in oracle.expect([woman_40, pill], tizanidine, NOW).rules
    assert "tizanidine-cyp1a2-inhibitor" not in oracle.expect([woman_40, patch], tizanidine, NOW).rules
    cipro = oracle.expect([_active("Ciprofloxacin 500 MG Oral Tablet")], tizanidine, NOW)
    assert "tizanidine-cyp1a2-inhibitor" in cipro.rules
    assert oracle.indicator("tizanidine-cyp1a2-inhibitor", cipro.facts) == "critical"
    assert "dantrolene-hepatotoxic-comedication" in oracle.expect([woman_40, patch], dantrolene, NOW).rules
    woman_35 = _patient("1983-06-02")
    assert (
        "dantrolene-hepatotoxic-comedication" not in oracle.expect([woman_35, patch], dantrolene, NOW).rules
    )
    assert (
        "dantrolene-hepatotoxic-comedication"
        in oracle.expect([_active("Riluzole 50 MG")], dantrolene, NOW).rules
    )
    oxycodone = _active("Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet")
    assert {"opioid-benzodiazepine"} <= oracle.expect([oxycodone], diazepam, NOW).rules
    assert "antispastic-opioid-gabapentinoid" in oracle.expect([oxycodone], tizanidine, NOW).rules
    assert (
        "antispastic-opioid-gabapentinoid"
        in oracle.expect([_active("Gabapentin 300 MG")], dantrolene, NOW).rules
    )
    stopped = _active("Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet", status="stopped")
    assert "opioid-benzodiazepine" not in oracle.expect([stopped], diazepam, NOW).rules
    assert "tizanidine-alpha2-agonist" in oracle.expect([_active("Clonidine 0.1 MG")], tizanidine, NOW).rules


def test_oracle_benzodiazepine_duplication_exemptions() -> None:
    diazepam = REGIMENS["diazepam"][0]
    rule = "benzodiazepine-duplication"
    assert rule in oracle.expect([_active("Clonazepam [Klonopin]")], diazepam, NOW).rules
    assert rule not in oracle.expect([_active("Diazepam [Valium]")], diazepam, NOW).rules  # a renewal
    assert rule not in oracle.expect([_active("Midazolam 1 MG/ML Injectable Solution")], diazepam, NOW).rules
    assert rule not in oracle.expect([_active("Midazolam 5 MG/ACTUAT Nasal Spray")], diazepam, NOW).rules


def test_oracle_tizanidine_hepatic_indicator() -> None:
    tizanidine = REGIMENS["tizanidine"][0]
    none = oracle.expect([], tizanidine, NOW)
    assert "tizanidine-hepatic" in none.rules and oracle.indicator("tizanidine-hepatic", none.facts) == "info"
    alt = {
        "resourceType": "Observation",
        "id": "alt",
        "effectiveDateTime": "2019-05-01",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
        "valueQuantity": {"value": 120, "unit": "U/L", "code": "U/L"},
    }
    high = oracle.expect([alt], tizanidine, NOW)
    assert oracle.indicator("tizanidine-hepatic", high.facts) == "warning"
    normal = oracle.expect(
        [dict(alt, valueQuantity={"value": 20, "unit": "U/L", "code": "U/L"})], tizanidine, NOW
    )
    assert "tizanidine-hepatic" not in normal.rules
