"""resources_of and medication_index: every wrapper a CDS client may send, and what is refused."""

from __future__ import annotations

import re
from typing import Any

import pytest

from spasticity_cds.fhir import medication_index, resources_of

PATIENT = {"resourceType": "Patient", "id": "p1"}
MED_A = {"resourceType": "MedicationRequest", "id": "a", "status": "active"}
MED_B = {"resourceType": "MedicationRequest", "id": "b", "status": "active"}
OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}


def bundle(*resources: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources], **extra}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, [], id="null"),
        pytest.param(
            {"resourceType": "Bundle", "type": "searchset", "total": 0}, [], id="searchset-no-entry"
        ),
        pytest.param(bundle(type="searchset"), [], id="searchset-empty-entry"),
        pytest.param(bundle(MED_A, MED_B), [MED_A, MED_B], id="bundle-without-type"),
        pytest.param(bundle(MED_A, type="collection"), [MED_A], id="bundle-with-type"),
        pytest.param({"entry": [{"resource": MED_A}]}, [MED_A], id="bundle-without-resourceType"),
        pytest.param({"resourceType": "Bundle", "entry": {"resource": MED_A}}, [MED_A], id="entry-as-object"),
        pytest.param(PATIENT, [PATIENT], id="single-resource"),
        pytest.param([MED_A, MED_B], [MED_A, MED_B], id="list-of-resources"),
        pytest.param([{"resource": MED_A}, {"resource": MED_B}], [MED_A, MED_B], id="list-of-entries"),
        pytest.param([bundle(MED_A), bundle(MED_B)], [MED_A, MED_B], id="list-of-bundles"),
        pytest.param(bundle(bundle(MED_A), MED_B), [MED_A, MED_B], id="nested-bundle"),
        pytest.param([], [], id="empty-list"),
    ],
)
def test_wrappers_unwrap_to_resources(value: Any, expected: list[dict[str, Any]]) -> None:
    assert resources_of(value) == expected


def test_entries_without_resource_are_skipped_and_bare_resources_accepted() -> None:
    value = {
        "resourceType": "Bundle",
        "entry": [
            {"fullUrl": "http://x/fhir/MedicationRequest/gone", "request": {"method": "DELETE"}},
            {"resource": None},
            MED_A,  # a resource placed straight into the entry list
            {"resource": MED_B, "search": {"mode": "match"}},
        ],
    }
    assert resources_of(value) == [MED_A, MED_B]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(OUTCOME, id="operation-outcome"),
        pytest.param(bundle(OUTCOME), id="bundle-of-one-outcome"),
        pytest.param(bundle(OUTCOME, OUTCOME, type="searchset"), id="bundle-of-outcomes"),
        pytest.param([OUTCOME], id="list-of-outcomes"),
    ],
)
def test_operation_outcome_means_not_given(value: Any) -> None:
    assert resources_of(value) is None


def test_outcomes_beside_results_are_dropped() -> None:
    warning = dict(OUTCOME, issue=[{"severity": "warning", "code": "informational"}])
    value = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": MED_A}, {"resource": warning, "search": {"mode": "outcome"}}],
    }
    assert resources_of(value) == [MED_A]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            "MedicationRequest/1",
            "value: expected a FHIR resource, Bundle or list, got a string",
            id="string",
        ),
        pytest.param(42, "got a number", id="number"),
        pytest.param(True, "got a boolean", id="boolean"),
        pytest.param(
            {"id": "1", "status": "active"},
            "value: not a FHIR resource (no resourceType)",
            id="object-without-resourceType",
        ),
        pytest.param({"resourceType": 7}, "no resourceType", id="non-string-resourceType"),
        pytest.param({"resourceType": "  "}, "no resourceType", id="blank-resourceType"),
        pytest.param(
            {"resourceType": "Bundle", "entry": "x"}, "value.entry: expected an array", id="entry-string"
        ),
        pytest.param(
            {"resourceType": "Bundle", "entry": [1]}, "value.entry[0]: expected an object", id="entry-number"
        ),
        pytest.param(
            {"resourceType": "Bundle", "entry": [{"resource": []}]},
            "value.entry[0].resource: expected an object",
            id="entry-resource-array",
        ),
        pytest.param(
            {"resourceType": "Bundle", "entry": [{"resource": {"id": "x"}}]},
            "value.entry[0].resource: not a FHIR resource",
            id="entry-resource-untyped",
        ),
        pytest.param([MED_A, "x"], "value[1]: expected a FHIR resource", id="list-with-string"),
        pytest.param([[MED_A]], "value[0]: expected a FHIR resource, got an array", id="list-of-lists"),
    ],
)
def test_non_fhir_is_refused_with_where_and_what(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        resources_of(value)


def test_deeply_nested_bundles_are_refused_not_recursed() -> None:
    value: dict[str, Any] = bundle(MED_A)
    for _ in range(50):
        value = bundle(value)
    with pytest.raises(ValueError, match="nested more than"):
        resources_of(value)


def test_sandbox_draft_orders_and_prefetch(sandbox: Any) -> None:
    request = sandbox("order-sign-baclofen-with-prefetch")
    drafts = resources_of(request["context"]["draftOrders"])
    assert [r["id"] for r in drafts or []] == ["request-123"]
    prefetch = request["prefetch"]
    assert resources_of(prefetch["patient"]) == [prefetch["patient"]]
    assert [r["id"] for r in resources_of(prefetch["conditions"]) or []] == ["cond-als", "cond-spasticity"]
    assert resources_of(prefetch["meds"]) == []


@pytest.mark.parametrize(
    "name",
    [
        "order-select-first-call-no-drug",
        "order-select-baclofen-lioresal",
        "order-select-after-suggestion-applied",
    ],
)
def test_sandbox_order_select_drafts(sandbox: Any, name: str) -> None:
    drafts = resources_of(sandbox(name)["context"]["draftOrders"])
    assert drafts is not None and [f"{r['resourceType']}/{r['id']}" for r in drafts] == [
        "MedicationRequest/request-123"
    ]


def test_medication_index_keys_ids_and_full_urls() -> None:
    by_id = {"resourceType": "Medication", "id": "m1", "code": {"text": "one"}}
    by_urn = {"resourceType": "Medication", "code": {"text": "two"}}
    by_url = {"resourceType": "Medication", "id": "m3", "code": {"text": "three"}}
    value = {
        "resourceType": "Bundle",
        "entry": [
            {"fullUrl": "urn:uuid:7f0c2d4e-0000-4000-8000-000000000001", "resource": by_urn},
            {"fullUrl": "https://ehr.example.org/fhir/Medication/m3", "resource": by_url},
            {"resource": MED_A},
        ],
    }
    index = medication_index(by_id, value, None, "not fhir", OUTCOME)
    assert index == {
        "Medication/m1": by_id,
        "urn:uuid:7f0c2d4e-0000-4000-8000-000000000001": by_urn,
        "Medication/m3": by_url,
        "https://ehr.example.org/fhir/Medication/m3": by_url,
    }
