"""The fast readings of a prefetch give exactly what the general ones give.

`resources_of` (and so `interpret_given`) reads the usual Bundle shape in one pass
(`fhir.bundles._plain_scan`) and leaves every other shape to the full walk; `_foreign` skips
parsing a reference written exactly "Patient/<patientId>". Both are held here to the general
reading over generated values, odd shapes included (entries without a resource, nested Bundles,
OperationOutcomes, non-FHIR values).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spasticity_cds.fhir import resources_of
from spasticity_cds.fhir.bundles import _plain_scan, _walk
from spasticity_cds.prefetch import (
    _foreign,
    _own_reference,
    _own_resources,
    interpret_given,
)


def _plain_searchset(value: Any) -> list[dict[str, Any]] | None:
    """The resources `_plain_scan` reads; None when it leaves the value to `_walk`."""
    plain = _plain_scan(value)
    return None if plain is None else plain[0]


_KINDS = st.sampled_from(
    [
        "Condition",
        "MedicationRequest",
        "Observation",
        "Patient",
        "Bundle",
        "OperationOutcome",
        "",
        " ",
        7,
        None,
    ]
)
_RESOURCE = st.fixed_dictionaries({"resourceType": _KINDS, "id": st.sampled_from(["a", "b"])})
_ENTRY = st.one_of(
    st.fixed_dictionaries({"resource": _RESOURCE}),
    st.fixed_dictionaries({"resource": st.sampled_from([None, "text", 3, []])}),
    st.fixed_dictionaries({"fullUrl": st.just("urn:uuid:1")}),
    _RESOURCE,  # a resource put straight into the entry list
    st.sampled_from(["x", 1, None, []]),
)
_BUNDLE = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Bundle", "Condition", None])},
    optional={"entry": st.one_of(st.lists(_ENTRY, max_size=5), _ENTRY, st.none())},
)
_VALUE = st.one_of(_BUNDLE, st.lists(_BUNDLE, max_size=2), st.none(), st.just("text"))


def _general(value: Any) -> Any:
    """resources_of's verdict by the full walk alone (the reference for the one-pass reading)."""
    if value is None:
        return ("ok", [])
    try:
        walked = [resource for _, resource in _walk(value, "value", 0)]
    except ValueError:
        return ("refused", None)
    kept = [r for r in walked if r.get("resourceType") != "OperationOutcome"]
    return ("ok", None if walked and not kept else kept)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_VALUE)
def test_the_one_pass_reading_agrees_with_resources_of(value: Any) -> None:
    fast = _plain_searchset(value)
    if fast is not None:  # it only answers for a shape the walk reads the same way
        assert fast == [resource for _, resource in _walk(value, "value", 0)]
        assert all(a is b for a, b in zip(fast, resources_of(value) or [], strict=True))
    try:
        given_value = interpret_given(value)
    except ValueError:
        assert _general(value)[0] == "refused"
    else:
        expected = _general(value)[1]
        assert (given_value.resources if given_value is not None else None) == expected


def test_the_usual_searchset_is_read_in_one_pass() -> None:
    resources = [{"resourceType": "Condition", "id": str(n)} for n in range(3)]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"fullUrl": f"x/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in resources],
    }
    assert _plain_searchset(bundle) == resources
    given_value = interpret_given(bundle)
    assert given_value is not None and given_value.resources == resources


_PATIENT_IDS = ["pat-1", "p 1", " p1", "p/1", "p%201", "p?1", "p#1", "Patient/p1", "é"]
_REFERENCES = [
    "Patient/{pid}",
    " Patient/{pid} ",
    "Patient/{pid}/_history/2",
    "https://ehr.example.org/fhir/Patient/{pid}",
    "Patient/other",
    "Group/ward",
    "",
    "   ",
    None,
    7,
]


@pytest.mark.parametrize("pid", _PATIENT_IDS)
@pytest.mark.parametrize("template", _REFERENCES)
@pytest.mark.parametrize("key", ["subject", "patient"])
def test_the_exact_own_reference_shortcut_changes_no_verdict(pid: str, template: Any, key: str) -> None:
    reference = template.format(pid=pid) if isinstance(template, str) else template
    for resource in (
        {"resourceType": "Condition", key: {"reference": reference}},
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/other"},
            "patient": {"reference": reference},
        },
        {"resourceType": "Condition", key: {"reference": reference}, "patient": {"reference": "Group/g"}},
        {"resourceType": "Patient", "id": pid},
    ):
        assert _foreign(resource, pid, _own_reference(pid)) == _foreign(resource, pid)


def test_an_id_the_reference_pattern_would_read_differently_gets_no_shortcut() -> None:
    assert _own_reference("pat-1") == "Patient/pat-1"
    for pid in ("p/1", "p%201", "p?1", "p#1", " p1", "p1 "):
        assert _own_reference(pid) is None


@pytest.mark.parametrize("pid", _PATIENT_IDS)
def test_own_resources_keeps_what_foreign_keeps(pid: str) -> None:
    resources: list[dict[str, Any]] = []
    for template in _REFERENCES:
        reference = template.format(pid=pid) if isinstance(template, str) else template
        for key in ("subject", "patient"):
            resources.append({"resourceType": "Condition", key: {"reference": reference}})
        resources.append({"resourceType": "Patient", "id": "other", "subject": {"reference": reference}})
        resources.append({"resourceType": "Observation", "subject": reference})
    resources.append({"resourceType": "Patient", "id": pid})
    expected = [r for r in resources if not _foreign(r, pid)]
    assert _own_resources(resources, pid) == expected
    assert 0 < len(expected) < len(resources)
