"""The second set of rules end to end: drugs outside every rule still cost no FHIR call, drugs
the second set made relevant (an opioid, ciprofloxacin, riluzole, clonidine) do, and the patient's
birth date and sex come from the FHIR server by a read (`GET Patient/{id}`), not a search."""

from __future__ import annotations

from typing import Any

import pytest

from spasticity_cds.facts import age_on
from spasticity_cds.fhir import patient_entry
from spasticity_cds.validation import validator
from tests.api.helpers import AMLODIPINE, PATIENT, TOKEN, als_condition, hook_request, order, url_for
from tests.support.fhir_stub import FhirStub, StubResponse, searchset

# Drugs no rule is about (codes of the benign golden baseline), for a patient on an opioid.
IRRELEVANT = [
    AMLODIPINE,
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("861007", "metformin hydrochloride 500 MG Oral Tablet"),
    ("617312", "atorvastatin 40 MG Oral Tablet"),
]
# Drugs that became relevant with the second set (codes and names from cards/valuesets).
NEWLY_RELEVANT = [
    ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet"),
    ("2551", "Ciprofloxacin"),
    ("199206", "Riluzole 50 MG Oral Tablet"),
    ("2599", "Clonidine"),
    ("310431", "gabapentin 300 MG Oral Capsule"),
]


def _cards(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert not [e.message for e in validator("cds-response.schema.json").iter_errors(body)]
    return body  # type: ignore[no-any-return]


def _serve(fhir: FhirStub, *, birth_date: str | None, medications: list[dict[str, Any]]) -> None:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": PATIENT, "gender": "female"}
    if birth_date:
        patient["birthDate"] = birth_date
    fhir.route(f"/Patient/{PATIENT}", StubResponse(body=patient))
    fhir.route("/Condition", searchset([als_condition()]))
    fhir.route("/MedicationRequest", searchset(medications))
    fhir.route("/MedicationStatement", searchset([]))
    fhir.route("/Observation", searchset([]))


@pytest.mark.parametrize("drug", IRRELEVANT, ids=lambda d: d[1].split()[0].lower())
@pytest.mark.parametrize("hook", ["order-select", "order-sign", "medication-prescribe"])
def test_a_drug_no_rule_is_about_costs_no_fhir_call(
    client: Any, fhir: FhirStub, hook: str, drug: Any
) -> None:
    _serve(
        fhir,
        birth_date="1950-01-01",
        medications=[order("R4", ("1049621", "oxycodone 5 MG"), status="active")],
    )
    body = hook_request(hook, [order("R4", drug)], fhir_server=fhir.base_url, token=TOKEN)
    assert _cards(client.post(url_for(hook), json=body)) == {"cards": []}
    assert fhir.requests == []


@pytest.mark.parametrize("drug", NEWLY_RELEVANT, ids=lambda d: d[1].split()[0].lower())
def test_a_drug_the_second_set_is_about_fetches_what_its_rules_need(
    client: Any, fhir: FhirStub, drug: Any
) -> None:
    _serve(fhir, birth_date=None, medications=[])
    body = hook_request("order-sign", [order("R4", drug)], fhir_server=fhir.base_url, token=TOKEN)
    assert _cards(client.post(url_for("order-sign"), json=body)) == {"cards": []}  # nothing else there
    assert fhir.requests, "a relevant new order reads the patient's record"


def test_patient_is_read_not_searched_and_the_age_rule_fires_on_it(client: Any, fhir: FhirStub) -> None:
    _serve(fhir, birth_date="1950-03-01", medications=[])
    diazepam = ("197591", "Diazepam 5 MG Oral Tablet")
    body = hook_request("order-sign", [order("R4", diazepam)], fhir_server=fhir.base_url, token=TOKEN)
    topics = [
        c["source"]["topic"]["code"] for c in _cards(client.post(url_for("order-sign"), json=body))["cards"]
    ]
    assert "older-adult-benzodiazepine" in topics
    reads = fhir.requests_to(f"/Patient/{PATIENT}")
    assert len(reads) == 1 and not fhir.requests_to("/Patient")
    assert reads[0].header("Authorization") == f"Bearer {TOKEN}"


@pytest.mark.parametrize("birth", ["0001-00-01", "1950-13-01", "0000-01-01"])
def test_a_birth_date_that_is_not_a_date_is_an_unknown_age_not_a_500(
    client: Any, fhir: FhirStub, birth: str
) -> None:
    _serve(fhir, birth_date=birth, medications=[])
    diazepam = ("197591", "Diazepam 5 MG Oral Tablet")
    body = hook_request("order-sign", [order("R4", diazepam)], fhir_server=fhir.base_url, token=TOKEN)
    topics = [
        c["source"]["topic"]["code"] for c in _cards(client.post(url_for("order-sign"), json=body))["cards"]
    ]
    assert "older-adult-benzodiazepine" not in topics


def test_cards_come_most_severe_first(client: Any, fhir: FhirStub) -> None:
    """Critical tizanidine + ciprofloxacin before the warning and info cards of the same order."""
    tizanidine = order("R4", ("313413", "tizanidine 4 MG Oral Tablet"), status="active", ident="rx-tiz")
    _serve(fhir, birth_date="1950-03-01", medications=[tizanidine])
    body = hook_request("order-sign", [order("R4", ("2551", "Ciprofloxacin"))], fhir_server=fhir.base_url)
    cards = _cards(client.post(url_for("order-sign"), json=body))["cards"]
    levels = [c["indicator"] for c in cards]
    rank = {"critical": 2, "warning": 1, "info": 0}
    assert levels[0] == "critical" and levels == sorted(levels, key=rank.__getitem__, reverse=True)


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [("1961-11-21", "2026-11-21", 65), ("1961-11-22", "2026-11-21", 64), ("1950", "2026-11-21", 75),
     ("1961", "2026-11-21", 64), ("1961-06", "2026-07-01", 65), ("1961-06", "2026-06-29", 64),
     ("2000-02-29", "2026-02-28", 25), ("2000-02-29", "2026-03-01", 26), ("2030-01-01", "2026-11-21", None),
     ("19xx", "2026-11-21", None), ("0001-00-01", "2026-11-21", None), ("0001-00", "2026-11-21", None),
     ("1950-00-10", "2026-11-21", None), ("1950-13", "2026-11-21", None), ("1950-02-30", "2026-11-21", None),
     ("0000-01-01", "2026-11-21", None), ("0001-01-01", "2026-11-21", 2025)],
)  # fmt: skip
def test_age_on_the_order_date_takes_the_youngest_age_a_partial_birth_date_allows(
    birth: str, day: str, age: int | None
) -> None:
    from datetime import date

    assert age_on(birth, date.fromisoformat(day)) == age


def test_patient_entry_reads_every_version_and_ignores_another_patient() -> None:
    assert patient_entry(
        [{"resourceType": "Patient", "id": "a", "birthDate": "1950-01-02", "gender": "Female"}], "a"
    )
    entry = patient_entry(
        [{"resourceType": "Patient", "id": "a", "birthDate": "1950-01-02", "gender": "Female"}]
    )
    assert entry is not None and entry.birth_date == "1950-01-02" and entry.gender == "female"
    assert patient_entry([{"resourceType": "Patient", "id": "b", "birthDate": "1950"}], "a") is None
    odd = patient_entry([{"resourceType": "Patient", "birthDate": "not a date", "gender": 3}])
    assert odd is not None and odd.birth_date is None and odd.gender is None
