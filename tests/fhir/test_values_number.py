"""`_values.number` tests plain ints and floats first (parsed JSON's usual case); it must read
everything as the general path does: booleans, NaN, infinities, ints beyond a double, Decimals and
numeric text."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from spasticity_cds.fhir._values import _DECIMAL, number


def general(value: Any) -> float | None:
    """The reader before the fast path, as the oracle."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float | Decimal):
            result = float(value)
        elif isinstance(value, str) and _DECIMAL.fullmatch(value):
            result = float(value)
        else:
            return None
    except (OverflowError, ValueError, ArithmeticError):
        return None
    return result if math.isfinite(result) else None


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.just(10**400),
    st.just(-(10**400)),
    st.floats(),
    st.decimals(),
    st.text(max_size=8),
    st.sampled_from([" 5 ", "1e400", "-0.5", "nan", "inf", ".5", "5."]),
    st.lists(st.integers(), max_size=1),
)


@given(values)
def test_number_reads_as_the_general_path(value: Any) -> None:
    assert number(value) == general(value)


def test_examples() -> None:
    assert number(60) == 60.0 and number(1.5) == 1.5 and number(True) is None
    assert number(10**400) is None and number(float("nan")) is None and number(float("-inf")) is None
