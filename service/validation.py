"""One boundary validation: request bodies read safely and checked against schemas/, once-built.

JSON is read with limits (size by Flask's MAX_CONTENT_LENGTH, nesting depth here, no NaN or
Infinity), and every schema error becomes a 400 whose message names the offending field.
"""

from __future__ import annotations

import json
from array import array
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .errors import BadRequest, CdsError
from .paths import data_path

JSON_TYPES = ("application/json", "application/fhir+json")


@lru_cache(maxsize=32)
def validator(name: str) -> Draft202012Validator:
    """A validator for schemas/<name>, built once per process."""
    path = data_path("schemas") / name
    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check(name: str, document: Any, prefix: str = "") -> None:
    """Raise BadRequest naming the first (most relevant) field that breaks schemas/<name>."""
    error = best_match(validator(name).iter_errors(document))
    if error is None:
        return
    # best_match descends into anyOf branches; the branch's own complaint would mislead.
    while isinstance(error.parent, ValidationError) and error.parent.validator == "anyOf":
        error = error.parent
    field, message = describe_error(error, prefix)
    raise BadRequest(message, field=field)


def describe_error(error: ValidationError, prefix: str = "") -> tuple[str, str]:
    """A jsonschema error -> (field path like ``feedback[0].outcome``, a message naming it).

    Messages are written here rather than taken from jsonschema because its messages repeat the
    offending value, which may be megabytes long.
    """
    path: list[Any] = ([prefix] if prefix else []) + list(error.absolute_path)
    kind = error.validator
    absent, trigger = _absent_field(error)
    if absent:
        path.append(absent)
    field = _field_name(path)
    value = error.validator_value
    leaf = path[-1] if path else None
    if kind == "required":
        text = "is required" + (" when outcome is 'accepted'" if leaf == "acceptedSuggestions" else "")
    elif kind == "enum":
        text = "must be one of " + ", ".join(repr(v) for v in value)
    elif kind == "type":
        text = f"must be of type {value}"
    elif kind == "maxItems":
        text = f"has more than {value} items"
    elif kind == "minItems":
        text = "must not be empty"
    elif kind == "maxLength":
        text = f"is longer than {value} characters"
    elif kind in {"minLength", "pattern"} and leaf == "outcomeTimestamp":
        text = "must be an RFC 3339 date-time with a time zone, e.g. 2026-01-31T13:45:00Z"
    elif kind in {"minLength", "pattern"}:
        text = "must not be empty"
    elif kind == "dependentRequired" and trigger:
        text = f"is required when {trigger} is present"
    elif kind == "anyOf" and leaf == "overrideReason":
        text = "needs a reason, a userComment, or both"
    else:
        text = f"is invalid ({kind})"
    return field, f"{field} {text}"


def _absent_field(error: ValidationError) -> tuple[str | None, str]:
    """For `required` / `dependentRequired` errors: the absent field, and the field requiring it
    (``{"fhirAuthorization": ["fhirServer"]}`` -> ("fhirServer", "fhirAuthorization"))."""
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in instance]
        return (missing[0] if missing else None), ""
    if error.validator == "dependentRequired":
        for present, needed in error.validator_value.items():
            missing = [name for name in needed if present in instance and name not in instance]
            if missing:
                return missing[0], present
    return None, ""


def _field_name(path: list[Any]) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


def _finite_float(text: str) -> float:
    """A JSON number that overflows a double (1e400) would become infinity and silently defeat
    every comparison with it (a max-dose check): refuse it like NaN."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:24]} is out of range")
    return value


_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def _depth(raw: bytes) -> int:
    """Deepest nesting of arrays and objects in a valid JSON text.

    Counted on the bytes, not on the parsed value: strings are cut out (they may hold brackets),
    every other byte but brackets is dropped, and the running sum of +1/-1 steps is taken in C.
    Walking the parsed value in Python cost three times json.loads itself on a large prefetch.
    Only call it on text json.loads accepted.
    """
    # In valid JSON a backslash only appears inside strings: drop escaped backslashes, then
    # escaped quotes; every quote left delimits a string, so every other piece is outside one.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in raw else raw
    outside = b"".join(unescaped.split(b'"')[::2])
    steps = outside.translate(_BRACKET_STEP, _NOT_BRACKET)
    return max(accumulate(array("b", steps)), default=0)


def parse_json_body(raw: bytes, content_type: str | None, max_depth: int) -> Any:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime not in JSON_TYPES and not mime.endswith("+json"):
        raise CdsError("Content-Type must be application/json", status=415, field="Content-Type")
    if not raw:
        raise BadRequest("body: a JSON object is required", field="body")
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise BadRequest(f"body: JSON nested deeper than {max_depth} levels", field="body") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body: not valid JSON ({exc})", field="body") from None
    if _depth(raw) > max_depth:
        raise BadRequest(f"body: JSON nested deeper than {max_depth} levels", field="body")
    if not isinstance(value, dict):
        raise BadRequest("body: a JSON object is required", field="body")
    return value


def check_hook_request(body: dict[str, Any], hook: str) -> None:
    """Envelope, then the hook's own context; a hook that does not match the service is a 400."""
    check("cds-request.schema.json", body)
    if body["hook"] != hook:
        raise BadRequest(f"hook: this service answers {hook!r}, not {body['hook']!r}", field="hook")
    check(f"contexts/{hook}.schema.json", body["context"], prefix="context")
