"""The hot path's compiled validator (jsonschema-rs) gives jsonschema's verdict on every request schema.

`service.validation.check` asks jsonschema-rs first and lets jsonschema describe the error only
when the answer is "not valid", so a document the two disagree on would be let through (or turned
away without a message). Documents are generated near each schema's edges: every property, most of
them well-typed, strings that almost match the patterns (Unicode digits and spaces included).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spasticity_cds.validation import _schema, fast_validator, validator

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = [
    "cds-request.schema.json",
    "contexts/order-sign.schema.json",
    "contexts/order-select.schema.json",
    "contexts/medication-prescribe.schema.json",
    "feedback.schema.json",
]

_PIECES = [
    "",
    " ",
    "\t",
    "x",
    "1",
    "\u0663",
    "2026-01-31",
    "T",
    "t",
    "13:45:00",
    ".5",
    "Z",
    "+01:00",
    "http://",
    "https://",
    "h",
    "ftp://",
    "a b",
    "\u00a0",
    "order-sign",
    "accepted",
    "overridden",
]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=5).map("".join) | st.text(max_size=3)
_JUNK = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT | st.just([]) | st.just({})
)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        merged = dict(root["$defs"][ref.split("/")[-1]])
        merged.update({k: v for k, v in schema.items() if k != "$ref"})
        return merged
    return schema


def near(schema: dict[str, Any], root: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that mostly fit `schema`, sometimes not."""
    schema = _resolve(schema, root)
    options: list[st.SearchStrategy[Any]] = [_JUNK]
    if "enum" in schema:
        options += [st.sampled_from(schema["enum"])] * 3
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
    if "string" in kinds:
        options += [_TEXT, _TEXT, _TEXT, st.text(min_size=60, max_size=70) | st.just("x" * 201)]
    if "number" in kinds:
        options.append(st.integers() | st.floats(allow_nan=False))
    if "array" in kinds and depth < 3:
        items = schema.get("items", {})
        options.append(st.lists(near(items, root, depth + 1), max_size=3))
    if ("object" in kinds or "properties" in schema) and depth < 3:
        props = schema.get("properties", {})
        fields = {name: near(sub, root, depth + 1) for name, sub in props.items()}
        if fields:
            required = [f for f in schema.get("required", []) if f in fields]
            optional = {k: v for k, v in fields.items() if k not in required}
            options.append(st.fixed_dictionaries({}, optional={**fields, "other": _JUNK}))
            for _ in range(3):  # the required fields present: the other branches get exercised
                options.append(st.fixed_dictionaries({k: fields[k] for k in required}, optional=optional))
        else:
            options.append(st.dictionaries(_TEXT, _JUNK, max_size=2))
    fitting = options[1:] * 6  # mostly well-typed, so the deeper keywords are reached
    return st.one_of(*fitting, *options[:1])


def _valid_documents() -> dict[str, Any]:
    request = json.loads(
        (REPO / "benchmarks" / "requests" / "b-diazepam-als-baclofen-order-sign.json").read_bytes()
    )
    request["prefetch"] = {"conditions": request["prefetch"]["conditions"], "none": None}
    request["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 300}
    select = json.loads(
        (REPO / "benchmarks" / "requests" / "c-sandbox-dstu2-order-select-baclofen.json").read_bytes()
    )
    item = {
        "card": "c1",
        "outcome": "accepted",
        "outcomeTimestamp": "2026-01-31T13:45:00Z",
        "acceptedSuggestions": [{"id": "s1"}],
    }
    overridden = {
        "card": "c2",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-01-31t13:45:00.5+01:00",
        "overrideReason": {"reason": {"code": "x", "system": "y"}, "userComment": "z"},
    }
    return {
        "cds-request.schema.json": request,
        "contexts/order-sign.schema.json": request["context"],
        "contexts/order-select.schema.json": select["context"],
        "contexts/medication-prescribe.schema.json": {"userId": "u", "patientId": "p", "medications": {}},
        "feedback.schema.json": {"feedback": [item, overridden]},
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a document, down to three levels."""
    out = [prefix]
    if len(prefix) < 4:
        items = (
            value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
        )
        for key, child in items:
            out += _paths(child, (*prefix, key))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """`base` with up to two values replaced by (or deleted in favour of) edge-case values."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 2))):
        paths = _paths(document)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_EDGE)
    return document


_EDGE = _TEXT | _TEXT | _JUNK | st.sampled_from(["accepted", "overridden", "order-sign", "x" * 201])


@pytest.mark.parametrize("name", SCHEMAS)
def test_compiled_validator_agrees_with_jsonschema_near_valid_documents(name: str) -> None:
    base = _valid_documents()[name]
    assert validator(name).is_valid(base)

    @settings(max_examples=250, deadline=None, derandomize=True)
    @given(mutated(base))
    def agree(document: Any) -> None:
        assert fast_validator(name).is_valid(document) == validator(name).is_valid(document), document

    agree()


@pytest.mark.parametrize("name", SCHEMAS)
def test_compiled_validator_agrees_with_jsonschema_on_shapes_from_the_schema(name: str) -> None:
    root = _schema(name)

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(near(root, root))
    def agree(document: Any) -> None:
        assert fast_validator(name).is_valid(document) == validator(name).is_valid(document), document

    agree()


def test_a_lone_surrogate_is_judged_by_jsonschema_not_lost_in_rust() -> None:
    from spasticity_cds.errors import BadRequest
    from spasticity_cds.validation import check, parse_json_body

    body = parse_json_body(b'{"hookInstance": "x\\ud800", "hook": "order-sign"}', "application/json", 64)
    assert body["hookInstance"] == "x\ud800"  # the standard library reads what orjson refuses
    with pytest.raises(BadRequest) as raised:
        check("cds-request.schema.json", body)  # `context` is missing: jsonschema says so
    assert raised.value.field == "context"
    with pytest.raises(BadRequest, match="out of range"):
        parse_json_body(b'{"a": "\\ud800", "b": 1e400}', "application/json", 64)
