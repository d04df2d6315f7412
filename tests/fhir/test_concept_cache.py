"""The concept cache in `_values.concept_of` gives what the reader gives, and stays bounded.

Records repeat the same drugs, problems and tests, so concepts are looked up by the strings they
were sent with. A lookup must never answer for input that reads differently (a JSON number or
boolean where a string was cached), and hostile input that never repeats must not grow the cache.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spasticity_cds.fhir import _values
from spasticity_cds.fhir._values import _read_concept, concept_of
from spasticity_cds.records import Coding, Concept

parts = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=False, max_value=3, min_value=-3),
    st.sampled_from(["", " ", "1", "a", "http://loinc.org", "True"]),
    st.lists(st.just("a"), max_size=1),
)
coding_nodes = st.one_of(
    st.fixed_dictionaries({}, optional={"system": parts, "code": parts, "display": parts}),
    parts,
)
concept_values = st.one_of(
    st.fixed_dictionaries(
        {"coding": st.lists(coding_nodes, max_size=3)}, optional={"text": parts, "code": parts}
    ),
    parts,
)


@pytest.fixture(autouse=True)
def empty_cache() -> Any:
    _values._CONCEPTS.clear()
    yield
    _values._CONCEPTS.clear()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(concept_values, min_size=1, max_size=6))
def test_cached_reads_equal_uncached_reads(values: list[Any]) -> None:
    """Read twice in any order (so later values can hit what earlier ones stored): same as the reader."""
    for value in values + values:
        assert concept_of(value) == _read_concept(value)


def test_a_number_or_boolean_never_hits_a_cached_string() -> None:
    text_code = concept_of({"coding": [{"system": "s", "code": "1"}]})
    assert text_code == Concept(codings=(Coding("s", "1"),))
    assert concept_of({"coding": [{"system": "s", "code": True}]}) == Concept(codings=(Coding("s", None),))
    assert concept_of({"coding": [{"system": "s", "code": 1}]}) == Concept(codings=(Coding("s", "1"),))
    assert concept_of({"coding": [{"system": "s", "code": 1.0}]}) == Concept(codings=(Coding("s", None),))


def test_the_same_strings_give_the_same_concept() -> None:
    first = concept_of({"coding": [{"system": "s", "code": "c", "display": "d"}], "text": "t"})
    again = concept_of({"text": "t", "coding": [{"display": "d", "code": "c", "system": "s"}]})
    assert again is first


def test_unhashable_parts_are_read_not_cached() -> None:
    value = {"coding": [{"system": ["s"], "code": "c"}], "text": {"x": 1}}
    assert concept_of(value) == Concept(codings=(Coding(None, "c"),))
    assert not _values._CONCEPTS


def test_long_strings_are_not_kept() -> None:
    display = "x" * (_values._KEY_CHARS_MAX + 1)
    assert concept_of({"coding": [{"display": display}]}) == Concept(codings=(Coding(None, None, display),))
    assert not _values._CONCEPTS


def test_the_cache_is_bounded() -> None:
    for i in range(_values._CONCEPTS_MAX * 2 + 7):
        assert concept_of({"coding": [{"code": str(i)}]}) == Concept(codings=(Coding(None, str(i)),))
        assert len(_values._CONCEPTS) <= _values._CONCEPTS_MAX
