"""The byte-level JSON depth count agrees with a plain walk of the parsed value."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spasticity_cds.validation import _depth

_TEXT = st.text(alphabet=st.sampled_from(list('ab[]{}"\\\n/ é')), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=30,
)


def _walk(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_walk(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_walk(v) for v in value), default=0)
    return 0


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_JSON, st.booleans())
def test_depth_of_raw_json_equals_depth_of_value(value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert _depth(raw) == _walk(value)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_JSON, st.integers(min_value=0, max_value=6))
def test_depth_with_a_limit_says_whether_the_limit_is_exceeded(value: Any, limit: int) -> None:
    raw = json.dumps(value).encode()
    assert (_depth(raw, limit) > limit) == (_walk(value) > limit)


def test_brackets_inside_strings_and_escapes_do_not_count() -> None:
    raw = json.dumps({"a": ['[[{"', '\\"]]', "x\\", {"b": "}}}"}]}).encode()
    assert _depth(raw) == 3
