"""condition_entries: the statuses of each version read as one lower-case code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from spasticity_cds.fhir import condition_entries, resources_of
from spasticity_cds.records import Coding, Concept, ConditionEntry

SCT = "http://snomed.info/sct"
ALS = {"coding": [{"system": SCT, "code": "86044005", "display": "Amyotrophic lateral sclerosis"}]}
ALS_CONCEPT = Concept(codings=(Coding(SCT, "86044005", "Amyotrophic lateral sclerosis"),))


def status(code: str, system: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        pytest.param(
            {
                "resourceType": "Condition",
                "id": "r4",
                "code": ALS,
                "recordedDate": "2024-02-01",
                "clinicalStatus": status("active", "condition-clinical"),
                "verificationStatus": status("Confirmed", "condition-ver-status"),
            },
            ("active", "confirmed", "2024-02-01"),
            id="r4-codeable-concepts",
        ),
        pytest.param(
            {
                "resourceType": "Condition",
                "id": "r4b",
                "code": ALS,
                "clinicalStatus": {
                    "coding": [{"system": "x"}, {"code": "remission"}],
                    "text": "In remission",
                },
                "verificationStatus": {"text": "refuted"},
            },
            ("remission", None, None),
            id="r4-first-coded-status-text-ignored",
        ),
        pytest.param(
            {
                "resourceType": "Condition",
                "id": "stu3",
                "code": ALS,
                "assertedDate": "2018-01-01",
                "clinicalStatus": "recurrence",
                "verificationStatus": "entered-in-error",
            },
            ("recurrence", "entered-in-error", "2018-01-01"),
            id="stu3-code-strings",
        ),
        pytest.param(
            {
                "resourceType": "Condition",
                "id": "dstu2",
                "code": ALS,
                "dateRecorded": "2015-06-01",
                "patient": {"reference": "Patient/p"},
                "clinicalStatus": "Relapse",
                "verificationStatus": "refuted",
            },
            ("relapse", "refuted", "2015-06-01"),
            id="dstu2-code-strings",
        ),
        pytest.param(
            {"resourceType": "Condition", "id": "none", "code": ALS, "onsetDateTime": "2010-01-01"},
            (None, None, "2010-01-01"),
            id="missing-statuses-onset",
        ),
        pytest.param(
            {
                "resourceType": "Condition",
                "id": "junk",
                "code": ALS,
                "clinicalStatus": 7,
                "verificationStatus": ["confirmed"],
                "recordedDate": {"x": 1},
            },
            (None, None, None),
            id="wrong-shapes-absent",
        ),
    ],
)
def test_statuses(condition: dict[str, Any], expected: tuple[str | None, str | None, str | None]) -> None:
    (entry,) = condition_entries([condition])
    assert (entry.clinical_status, entry.verification_status, entry.recorded) == expected
    assert entry.code == ALS_CONCEPT and entry.ref == f"Condition/{condition['id']}"


def test_sandbox_prefetch_conditions(sandbox: Callable[[str], dict[str, Any]]) -> None:
    conditions = resources_of(sandbox("order-sign-baclofen-with-prefetch")["prefetch"]["conditions"])
    assert condition_entries(conditions) == [
        ConditionEntry(
            ref="Condition/cond-als",
            code=Concept(codings=ALS_CONCEPT.codings, text="Amyotrophic lateral sclerosis"),
            clinical_status="active",
            verification_status=None,
        ),
        ConditionEntry(
            ref="Condition/cond-spasticity",
            code=Concept(codings=(Coding(SCT, "221360009", "Spasticity"),), text="Spasticity"),
            clinical_status="active",
            verification_status=None,
        ),
    ]


def test_wanted_filters_on_code_first_and_missing_code_is_empty() -> None:
    seen: list[Concept] = []

    def wanted(code: Concept) -> bool:
        seen.append(code)
        return "Spasticity" in code.words()

    resources = [
        {"resourceType": "Condition", "id": "a", "code": ALS, "clinicalStatus": "active"},
        {"resourceType": "Condition", "id": "b", "code": {"text": "Spasticity"}},
        {"resourceType": "Condition", "id": "c"},
        {"resourceType": "Observation", "id": "o", "code": {"text": "Spasticity"}},
        "Condition",
    ]
    assert [e.ref for e in condition_entries(resources, wanted=wanted)] == ["Condition/b"]
    assert seen == [ALS_CONCEPT, Concept(text="Spasticity"), Concept()]
    assert condition_entries(resources)[2].code == Concept()
    assert condition_entries(None) == []
