"""The two JSON parses of a request body give the same values.

orjson reads every body; the standard library reads the rare one orjson refuses for an escaped lone
surrogate (service/validation.py). Whatever path a body takes, the service must see the same
numbers: an integer beyond 64 bits is a float in both (orjson writes no larger integer into the
response: fuzzing found a 500 where the second parse had kept one), and both refuse what a double
cannot hold.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spasticity_cds.errors import BadRequest
from spasticity_cds.validation import _parse_with_lone_surrogates, parse_json_body

_BIG = st.integers(min_value=-(10**40), max_value=10**40)
_EDGES = st.sampled_from([2**63 - 1, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**19, 10**20, -(10**19)])
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    _BIG,
    _EDGES,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types (1 == 1.0 in Python; here an int must stay an int)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(_DOCS)
def test_the_fallback_reads_what_orjson_reads(document: Any) -> None:
    raw = json.dumps({"d": document}).encode()
    assert _same(_parse_with_lone_surrogates(raw, 64), orjson.loads(raw))


@pytest.mark.parametrize(
    ("literal", "expected"),
    [("18446744073709551615", 2**64 - 1), ("18446744073709551616", 1.8446744073709552e19),
     ("-9223372036854775808", -(2**63)), ("-9223372036854775809", -9.223372036854776e18),
     ("1" + "0" * 30, 1e30)],
)  # fmt: skip
def test_a_body_with_a_lone_surrogate_gets_orjsons_numbers(literal: str, expected: float) -> None:
    raw = f'{{"s": "\\ud800", "n": {literal}}}'.encode()
    value = parse_json_body(raw, "application/json", 64, lone_surrogates="replace")
    assert _same(value["n"], expected) and _same(orjson.loads(raw.replace(b"\\ud800", b"x"))["n"], expected)


def test_an_integer_beyond_a_double_is_refused_on_both_paths() -> None:
    for raw in (b'{"n": 1' + b"0" * 400 + b"}", b'{"s": "\\ud800", "n": 1' + b"0" * 400 + b"}"):
        with pytest.raises(BadRequest, match="out of range"):
            parse_json_body(raw, "application/json", 64, lone_surrogates="replace")
