"""Regression set: public synthetic patients (Synthea, FHIR R4 / STU3 / DSTU2) through order-sign.

Every patient of tests/regression/data gets five drafts (baclofen, tizanidine, dantrolene,
diazepam, amlodipine; oral, realistic doses, in the patient's FHIR version); the prefetch is filled
by executing the service's own templates against the record; the cards are compared with the
oracle written from the specification. Zero errors, zero missed and zero false cards, except the
disagreements listed in known_disagreements.yaml with their clinical reason.

Run `pytest -s tests/regression` to see the per-rule table; `python tests/regression/write_results.py`
(or WRITE_REGRESSION_RESULTS=1 with pytest) writes it to RESULTS.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import harness, oracle
from .drafts import DRUGS

# Cases issue 10 names: the extract must keep holding them (patients, all versions together).
REQUIRED_CASES = {
    "eGFR as LOINC 33914-3": 100,
    "eGFR 5-29 (33914-3, any date)": 20,
    "active medicationReference": 50,
    "Brain damage - traumatic": 10,
    "Chronic paralysis due to lesion of spinal cord": 2,
    "concussion": 50,
    "CKD / renal disease (any stage)": 20,
    "end stage renal disease": 1,
}


@pytest.fixture(scope="module")
def result() -> Iterator[harness.Run]:
    yield harness.run()


@pytest.fixture(scope="module")
def comparison(result: harness.Run) -> harness.Comparison:
    return harness.compare(result, harness.load_disagreements())


def _describe(rule: str, kind: str, o: harness.Outcome) -> str:
    return (
        f"{kind} {rule}: {o.version} {o.source} draft {o.regimen}; expected {sorted(o.expected)}, "
        f"got {sorted(o.got)}; facts {o.facts}"
    )


def test_every_patient_ran_through_every_draft(result: harness.Run) -> None:
    assert result.patients["R4"] >= 500 and result.patients["STU3"] >= 100 and result.patients["DSTU2"] >= 100
    assert len(result.outcomes) == sum(result.patients.values()) * len(DRUGS)
    print(
        f"\n{len(result.outcomes)} order-sign calls in {result.seconds:.1f} s "
        f"({result.cpu_seconds:.1f} s CPU)"
    )
    print(harness.format_cases(result))


def test_the_extract_holds_the_cases_issue_10_names(result: harness.Run) -> None:
    totals = {name: sum(c.get(name, 0) for c in result.cases.values()) for name in REQUIRED_CASES}
    short = {name: n for name, n in totals.items() if n < REQUIRED_CASES[name]}
    assert not short, f"the extract lost cases: {short}"


def test_no_errors(comparison: harness.Comparison) -> None:
    errors = [f"{o.status} {o.version} {o.source} {o.regimen}: {o.error}" for o in comparison.errors]
    assert not errors, f"{len(errors)} calls failed, first: {errors[:3]}"


def test_no_missed_and_no_false_cards(result: harness.Run, comparison: harness.Comparison) -> None:
    print("\n" + harness.format_table(comparison))
    print("\n" + harness.format_patients_per_rule(result, oracle.SECOND_SET))
    if os.environ.get("WRITE_REGRESSION_RESULTS"):  # the same run, kept: tests/regression/RESULTS.md
        from .write_results import write

        write(result, comparison)
    listed: dict[str, int] = {}
    for rule, kind, _, d in comparison.explained:
        key = f"{kind} {rule} ({d.version or 'all versions'}, {d.drug or 'any draft'}): blame {d.blame}"
        listed[key] = listed.get(key, 0) + 1
    for key, n in listed.items():
        print(f"listed in known_disagreements.yaml: {n} x {key}")
    problems = [_describe(rule, kind, o) for rule, kind, o in comparison.unexplained]
    by_rule: dict[str, int] = {}
    for rule, kind, _ in comparison.unexplained:
        by_rule[f"{kind} {rule}"] = by_rule.get(f"{kind} {rule}", 0) + 1
    assert not problems, f"{len(problems)} unexplained disagreements {by_rule}; first: " + "\n".join(
        problems[:5]
    )


def test_one_card_per_rule_at_the_indicator_the_spec_gives(comparison: harness.Comparison) -> None:
    assert not comparison.wrong_cards, f"{len(comparison.wrong_cards)}: {comparison.wrong_cards[:5]}"


def test_every_listed_disagreement_still_happens(comparison: harness.Comparison) -> None:
    stale = [
        f"{d.kind} {d.rule} ({d.version or 'any'} {d.drug or ''} {d.patient or ''})"
        for d in comparison.unused
    ]
    assert not stale, f"known_disagreements.yaml lists disagreements that no longer happen: {stale}"


def test_the_same_person_gets_the_same_cards_in_stu3_and_dstu2(result: harness.Run) -> None:
    """STU3 and DSTU2 hold the same synthetic people (same file names, same histories, written in
    two FHIR versions): the version must not change the answer."""
    by_key = {(Path(o.source).name, o.drug, o.version): o for o in result.outcomes}
    pairs = [
        (o, by_key[(name, drug, "DSTU2")])
        for (name, drug, version), o in by_key.items()
        if version == "STU3" and (name, drug, "DSTU2") in by_key
    ]
    assert len(pairs) >= 500
    oracle_differs = [(a.source, a.drug) for a, b in pairs if a.expected != b.expected]
    service_differs = [(a.source, a.drug, sorted(a.got), sorted(b.got)) for a, b in pairs if a.got != b.got]
    assert not oracle_differs, f"the data differ between versions for {oracle_differs[:5]}"
    assert not service_differs, (
        f"{len(service_differs)} answers differ by FHIR version: {service_differs[:5]}"
    )


def test_the_oracle_is_not_trivial(comparison: harness.Comparison) -> None:
    """The data must make the rules the drafts can reach fire somewhere (and stay silent elsewhere)."""
    reachable = set(oracle.RULES) - {
        "baclofen-abrupt-withdrawal",  # no regression draft stops a drug
        "baclofen-dantrolene-combination",  # Synthea never prescribes baclofen or dantrolene
        "dantrolene-hepatic-disease",  # no active liver disease in the extract
        "tizanidine-abrupt-withdrawal",  # no regression draft stops a drug; no active tizanidine
        "tizanidine-alpha2-agonist",  # no active clonidine / guanfacine / methyldopa in the extract
        "als-respiratory-insufficiency",  # no ALS (nor FVC % predicted, nor respiratory failure)
    }
    for rule in sorted(reachable):
        counts = comparison.table[rule]
        assert counts["fires"] + counts["missed"] > 0, f"{rule} is never expected"
        assert counts["silent"] + counts["false"] > 0, f"{rule} is always expected"
