"""The one-loop reading of a plain searchset Bundle gives exactly what the full walk gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spasticity_cds.fhir.bundles import _plain_scan, _walk, resources_of


def _plain_searchset(value: Any) -> list[dict[str, Any]] | None:
    """The resources `_plain_scan` reads; None when it leaves the value to `_walk`."""
    plain = _plain_scan(value)
    return None if plain is None else plain[0]


KINDS = st.sampled_from(
    ["Condition", "OperationOutcome", "Observation", "MedicationRequest", "Bundle", "", " ", None, 3]
)
RESOURCE = st.fixed_dictionaries({"resourceType": KINDS, "id": st.text(max_size=3)})
ENTRY = st.one_of(
    st.fixed_dictionaries({"resource": RESOURCE}),
    st.fixed_dictionaries({"resource": RESOURCE, "fullUrl": st.text(max_size=5)}),
    st.fixed_dictionaries({"resource": st.one_of(st.none(), st.integers(), st.text(max_size=2))}),
    RESOURCE,
    st.integers(),
)
BUNDLE = st.one_of(
    st.fixed_dictionaries({"resourceType": st.just("Bundle"), "entry": st.lists(ENTRY, max_size=6)}),
    st.fixed_dictionaries({"entry": st.lists(ENTRY, max_size=6)}),
    st.fixed_dictionaries({"resourceType": st.just("Bundle")}),
    st.fixed_dictionaries({"resourceType": st.just("Bundle"), "entry": st.one_of(st.none(), ENTRY)}),
    RESOURCE,
    st.just({}),
)


def _walked(value: Any) -> list[dict[str, Any]] | str:
    try:
        return [resource for _, resource in _walk(value, "value", 0)]
    except ValueError as exc:
        return f"error: {exc}"


@settings(max_examples=400, deadline=None)
@given(BUNDLE)
def test_the_fast_path_agrees_with_the_walk_wherever_it_answers(value: Any) -> None:
    fast = _plain_searchset(value)
    if fast is not None:
        assert fast == _walked(value)


@settings(max_examples=200, deadline=None)
@given(BUNDLE)
def test_resources_of_is_unchanged(value: Any) -> None:
    walked = _walked(value)
    try:
        result: Any = resources_of(value)
    except ValueError as exc:
        result = f"error: {exc}"
    if isinstance(walked, str):
        assert result == walked
    elif walked and all(r.get("resourceType") == "OperationOutcome" for r in walked):
        assert result is None
    else:
        assert result == [r for r in walked if r.get("resourceType") != "OperationOutcome"]


def test_a_plain_searchset_takes_the_fast_path() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Condition", "id": "1"}}]}
    assert _plain_searchset(bundle) == [{"resourceType": "Condition", "id": "1"}]
    nested = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Bundle"}}]}
    assert _plain_searchset(nested) is None


@settings(max_examples=300, deadline=None)
@given(BUNDLE)
def test_the_scan_counts_the_outcomes_it_keeps(value: Any) -> None:
    """`resources_of` returns the scanned list as it is when the count is 0, so the count must be right."""
    scanned = _plain_scan(value)
    if scanned is not None:
        found, outcomes = scanned
        assert found == _plain_searchset(value)
        assert outcomes == sum(1 for r in found if r.get("resourceType") == "OperationOutcome")
