"""fhir_version_of: strong structural evidence, then the hint, then weak evidence, then R4."""

from __future__ import annotations

from typing import Any

import pytest

from spasticity_cds.fhir import DSTU2, R4, STU3, fhir_version_of, normalise_version

ORDER = {"resourceType": "MedicationOrder", "status": "active"}
R4_DOSE = {
    "resourceType": "MedicationRequest",
    "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {}}]}],
}
STU3_DOSE = {"resourceType": "MedicationRequest", "dosageInstruction": [{"doseQuantity": {"value": 1}}]}
BARE_REQUEST = {"resourceType": "MedicationRequest", "status": "draft"}
SANDBOX_R4 = dict(R4_DOSE, category={"coding": [{"code": "community"}]}, reasonCode={"text": "spasm"})
SINGLE_CATEGORY = dict(BARE_REQUEST, category={"coding": [{"code": "community"}]})


@pytest.mark.parametrize(
    ("resource", "hint", "expected"),
    [
        pytest.param(ORDER, None, DSTU2, id="MedicationOrder"),
        pytest.param(ORDER, "R4", DSTU2, id="MedicationOrder-ignores-hint"),
        pytest.param(R4_DOSE, None, R4, id="doseAndRate"),
        pytest.param(R4_DOSE, "STU3", R4, id="doseAndRate-beats-hint"),
        pytest.param(SANDBOX_R4, None, R4, id="sandbox-loose-r4"),
        pytest.param(STU3_DOSE, None, STU3, id="dose-on-dosage"),
        pytest.param(dict(BARE_REQUEST, doNotPerform=True), None, R4, id="r4-only-field"),
        pytest.param(dict(BARE_REQUEST, category=[{"text": "x"}]), None, R4, id="category-array"),
        pytest.param(dict(BARE_REQUEST, context={"reference": "Encounter/1"}), None, STU3, id="stu3-context"),
        pytest.param(
            dict(BARE_REQUEST, requester={"agent": {"reference": "Practitioner/1"}}),
            None,
            STU3,
            id="stu3-requester-agent",
        ),
        pytest.param(SINGLE_CATEGORY, None, STU3, id="single-category-weak"),
        pytest.param(SINGLE_CATEGORY, "4.0.1", R4, id="single-category-hint-wins"),
        pytest.param(BARE_REQUEST, None, R4, id="no-evidence-default"),
        pytest.param(BARE_REQUEST, "3.0.2", STU3, id="no-evidence-hint"),
        pytest.param(
            dict(STU3_DOSE, doNotPerform=True, dosageInstruction=[{"doseQuantity": {}}]),
            "STU3",
            STU3,
            id="tie-goes-to-hint",
        ),
        pytest.param(
            {"resourceType": "MedicationStatement", "wasNotTaken": False}, None, DSTU2, id="statement-dstu2"
        ),
        pytest.param(
            {"resourceType": "MedicationStatement", "dosage": [{"quantityQuantity": {"value": 1}}]},
            None,
            DSTU2,
            id="statement-dstu2-quantity",
        ),
        pytest.param({"resourceType": "MedicationStatement", "taken": "y"}, None, STU3, id="statement-stu3"),
        pytest.param(
            {"resourceType": "MedicationStatement", "status": "not-taken"}, None, R4, id="statement-r4-status"
        ),
        pytest.param(
            {"resourceType": "Condition", "clinicalStatus": {"coding": [{"code": "active"}]}},
            "DSTU2",
            R4,
            id="condition-r4",
        ),
        pytest.param(
            {"resourceType": "Condition", "clinicalStatus": "active", "assertedDate": "2020"},
            None,
            STU3,
            id="condition-stu3",
        ),
        pytest.param(
            {"resourceType": "Condition", "clinicalStatus": "active", "dateRecorded": "2020"},
            None,
            DSTU2,
            id="condition-dstu2",
        ),
        pytest.param(
            {"resourceType": "Condition", "verificationStatus": "confirmed"},
            "DSTU2",
            DSTU2,
            id="condition-string-status-hint",
        ),
        pytest.param(
            {"resourceType": "Condition", "verificationStatus": "confirmed"},
            None,
            STU3,
            id="condition-string-status-weak",
        ),
        pytest.param(
            {"resourceType": "Observation", "interpretation": [{"text": "H"}]}, None, R4, id="observation-r4"
        ),
        pytest.param(
            {"resourceType": "Observation", "interpretation": {"text": "H"}},
            "DSTU2",
            DSTU2,
            id="observation-single-interpretation-hint",
        ),
        pytest.param({"resourceType": "Patient"}, "DSTU2", DSTU2, id="other-type-hint"),
        pytest.param("not a resource", None, R4, id="not-a-resource"),
    ],
)
def test_version(resource: Any, hint: str | None, expected: str) -> None:
    assert fhir_version_of(resource, hint) == expected


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        ("R4", R4),
        ("r4b", R4),
        ("4.0.1", R4),
        ("4.3.0", R4),
        ("STU3", STU3),
        ("3.0.2", STU3),
        ("R3", STU3),
        ("DSTU2", DSTU2),
        ("1.0.2", DSTU2),
        ("5.0.0", None),
        ("R5", None),
        ("", None),
        (None, None),
        (4, None),
    ],
)
def test_normalise_version(hint: Any, expected: str | None) -> None:
    assert normalise_version(hint) == expected
