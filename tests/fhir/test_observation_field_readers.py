"""The Observation field readers, written for speed, read what the general readers read.

`_interpretation` takes codes straight from the dicts instead of building concepts, `_range` finds
the first object without building a list, `_effective` reads each field only when the ones before
gave nothing. Each is checked against the plain formulation on generated loose input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spasticity_cds.fhir import observations
from spasticity_cds.fhir._values import as_list, concepts_of, get, instant_of, number

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=120),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "h", " HH ", "n", "60", "2026", "2026-06-01T10:00:00Z", "x"]),
)
fields = st.sampled_from(
    ["coding", "code", "system", "display", "text", "low", "high", "value", "start", "end"]
)
loose = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(fields, inner, max_size=4)),
    max_leaves=12,
)


def interpretation_via_concepts(value: Any) -> tuple[str, ...]:
    codes = (
        coding.code.strip().upper()
        for concept in concepts_of(value)
        for coding in concept.codings
        if coding.code is not None
    )
    return tuple(dict.fromkeys(codes))


def range_via_list(ranges: Any) -> tuple[float | None, float | None]:
    first = next(iter(as_list(ranges)), None)
    return number(get(get(first, "low"), "value")), number(get(get(first, "high"), "value"))


def effective_via_list(raw: dict[str, Any]) -> datetime | None:
    period = raw.get("effectivePeriod")
    values = (
        raw.get("effectiveDateTime"),
        raw.get("effectiveInstant"),
        get(period, "end"),
        get(period, "start"),
        raw.get("issued"),
    )
    return next((found for v in values if (found := instant_of(v)) is not None), None)


def _same(a: Any, b: Any) -> bool:
    return a == b or (a != a and b != b)  # NaN never reaches a record, but compare it sanely


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loose)
def test_interpretation_reads_the_codes_concepts_of_reads(value: Any) -> None:
    assert observations._interpretation(value) == interpretation_via_concepts(value)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loose)
def test_range_reads_the_first_object(value: Any) -> None:
    assert observations._range(value) == range_via_list(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["effectiveDateTime", "effectiveInstant", "effectivePeriod", "issued"]),
        loose,
        max_size=4,
    )
)
def test_effective_reads_in_the_same_order(raw: dict[str, Any]) -> None:
    assert _same(observations._effective(raw), effective_via_list(raw))


def test_interpretation_examples() -> None:
    assert observations._interpretation([{"coding": [{"code": " h"}, {"code": "H"}]}, {"code": "a"}]) == (
        "H",
        "A",
    )
    assert observations._interpretation({"coding": {"code": 7}}) == ("7",)
    assert observations._interpretation({"text": "high"}) == ()


def test_range_examples() -> None:
    low, high = {"value": 60}, {"value": "90"}
    first = {"low": low, "high": high}
    for ranges in (first, [3, None, first, {"low": {"value": 1}}]):
        assert observations._range(ranges) == range_via_list(ranges) == (60.0, 90.0)
    assert observations._range([[{"low": low}]]) == (None, None)
