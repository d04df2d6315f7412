"""One boundary validation: request bodies read safely and checked against schemas/, once-built.

JSON is read with limits (size by Flask's MAX_CONTENT_LENGTH, nesting depth here, no NaN or
Infinity), and every schema error becomes a 400 whose message names the offending field.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wrappers import Request

from .errors import BadRequest, CdsError
from .paths import data_path
from .text import replace_lone_surrogates

JSON_TYPES = ("application/json", "application/fhir+json")


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(Path(data_path("schemas") / name).read_text(encoding="utf-8"))
    return schema


@lru_cache(maxsize=32)
def validator(name: str) -> Draft202012Validator:
    """A validator for schemas/<name>, built once per process: the one that describes errors."""
    schema = _schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@lru_cache(maxsize=32)
def fast_validator(name: str) -> Any:
    """jsonschema-rs's compiled validator for schemas/<name>, built once per process.

    It only answers "valid or not" on the hot path (about 1 µs for a hook request, against 70 µs
    for jsonschema), reading the Python objects in place; when it says "not valid", jsonschema
    finds and describes the error, so the 400s say exactly what they said before. Both implement
    Draft 2020-12; tests/unit/test_fast_validation.py holds them to the same verdicts.
    """
    return jsonschema_rs.Draft202012Validator(_schema(name), validate_formats=True)


def check(name: str, document: Any, prefix: str = "") -> None:
    """Raise BadRequest naming the first (most relevant) field that breaks schemas/<name>."""
    try:
        if fast_validator(name).is_valid(document):
            return
    except UnicodeEncodeError:  # a lone surrogate cannot cross into Rust: jsonschema judges it
        pass
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


_KEEP_ONLY_BRACKETS_AND_QUOTES = bytes(b for b in range(256) if b not in b'[]{}"')
_FOLD_BRACES = bytes.maketrans(b"{}", b"[]")


def _depth(raw: bytes, limit: int | None = None) -> int:
    """Deepest nesting of arrays and objects in a valid JSON text (at most `limit` + 1).

    Counted on the bytes, not on the parsed value (a Python walk of a large prefetch cost three
    times the parse itself), in C passes that shrink the text fast:

    1. in valid JSON a backslash only appears inside strings: escaped backslashes and escaped
       quotes go (only when there is a backslash at all, which a memchr finds);
    2. one `translate` keeps only brackets and quotes, with braces folded into square brackets
       (the text is valid JSON, so pairs match and only depth matters);
    3. `""` pairs go: an empty string, or the seam between two strings with nothing structural
       between them; either way what lies outside strings is unchanged. What remains in quotes
       is the rare string that holds a bracket, cut out by a split;
    4. every round of `replace(b"[]", b"")` removes exactly the innermost level (replace does not
       rescan what it produced), so the number of rounds to the empty text is the depth.

    Only call it on text a JSON parser accepted.
    """
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = raw.translate(_FOLD_BRACES, _KEEP_ONLY_BRACKETS_AND_QUOTES).replace(b'""', b"")
    if b'"' in kept:
        kept = b"".join(kept.split(b'"')[::2])
    depth = 0
    while kept and (limit is None or depth <= limit):
        kept = kept.replace(b"[]", b"")
        depth += 1
    return depth


def read_body(request: Request) -> bytes:
    """The request body, read in one call of Content-Length bytes, with Werkzeug's limits.

    `request.get_data()` reads through Werkzeug's LimitedStream 64 KiB at a time, and each of those
    reads makes gunicorn's body reader copy what is left of its buffer: a 1 MB prefetch cost 3 ms
    of CPU that way, against 1 ms for one read of the declared length. The refusals are Werkzeug's
    own: a declared length over MAX_CONTENT_LENGTH is a 413 before anything is read, a read that
    fails (a client gone silent past its timeout) is a 400. A body without a Content-Length, or
    one something already started to read, goes through `get_data` as before (a chunked body has
    been read whole and given a length by `bound_streamed_bodies` before any view runs). A body
    shorter than it declared is returned as it came, as Werkzeug does; the JSON parse refuses it.
    """
    length = request.content_length
    stream = request.environ.get("wsgi.input")
    if length is None or stream is None or "stream" in request.__dict__:
        return request.get_data(cache=False)
    limit = request.max_content_length
    if limit is not None and length > limit:
        raise RequestEntityTooLarge()
    if length == 0:
        return b""
    try:
        body: bytes = stream.read(length)
    except (OSError, ValueError):
        raise ClientDisconnected() from None
    return body


def parse_json_body(
    raw: bytes,
    content_type: str | None,
    max_depth: int,
    *,
    lone_surrogates: Literal["keep", "replace"] = "keep",
) -> Any:
    """The request body as a JSON object, or a 4xx naming what is wrong with it.

    orjson parses (strict JSON: NaN and Infinity are rejected, as are invalid UTF-8 and a number that
    overflows a double, such as 1e400; it refuses nesting beyond 1,024 levels itself), then
    `_depth` enforces the configured limit on the bytes.

    An escaped lone surrogate ("\\ud800") is valid JSON text but not Unicode: no string holding one
    can be encoded as UTF-8 (a URL, a hash, the database, the JSON response). `lone_surrogates`
    says what the caller needs: "keep" them, for a caller that refuses such text itself naming the
    field (feedback: it stores what it is sent), or "replace" each with U+FFFD in every string and
    key, as card text shows them, for a caller that evaluates the request (a hook call): a stray
    character in one display string must not cost the patient the whole answer, and an identifier
    holding one matches nothing real (FHIR ids and references are plain ASCII).
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime not in JSON_TYPES and not mime.endswith("+json"):
        raise CdsError("Content-Type must be application/json", status=415, field="Content-Type")
    if not raw:
        raise BadRequest("body: a JSON object is required", field="body")
    surrogates = False
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if b"\\u" in raw and not str(exc).startswith("depth limit"):
            # perhaps a lone surrogate ("\ud800"): valid JSON text that orjson refuses
            value = _parse_with_lone_surrogates(raw, max_depth)
            surrogates = True
        elif str(exc).startswith("depth limit"):
            raise BadRequest(f"body: JSON nested deeper than {max_depth} levels", field="body") from None
        else:
            detail = str(exc)
            if detail.startswith("number is infinity"):  # 1e400: infinity defeats every dose check
                detail = "a number is out of range" + detail.split("double", 1)[-1]
            raise BadRequest(f"body: not valid JSON ({detail})", field="body") from None
    if not isinstance(value, dict):
        raise BadRequest("body: a JSON object is required", field="body")
    if _depth(raw, max_depth) > max_depth:
        raise BadRequest(f"body: JSON nested deeper than {max_depth} levels", field="body")
    if surrogates and lone_surrogates == "replace":
        value = _with_lone_surrogates_replaced(value)
    return value


def _with_lone_surrogates_replaced(value: Any) -> Any:
    """`value` (parsed JSON, depth already bounded) with U+FFFD for each lone surrogate in its
    strings and keys."""
    if isinstance(value, str):
        return replace_lone_surrogates(value)
    if isinstance(value, list):
        return [_with_lone_surrogates_replaced(item) for item in value]
    if isinstance(value, dict):
        return {replace_lone_surrogates(k): _with_lone_surrogates_replaced(v) for k, v in value.items()}
    return value


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


def _orjson_int(text: str) -> int | float:
    """An integer as orjson reads it: beyond 64 bits (-2**63 to 2**64 - 1) it becomes a float, so
    both parses give the same value, and no integer the JSON response cannot hold (orjson writes
    at most 64 bits) enters the service."""
    if len(text) <= 20:
        value = int(text)
        if -(2**63) <= value < 2**64:
            return value
    return _finite_float(text)


def _finite_float(text: str) -> float:
    """A JSON number that overflows a double (1e400) would become infinity and silently defeat
    every comparison with it (a max-dose check): refuse it like NaN."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:24]} is out of range")
    return value


def _parse_with_lone_surrogates(raw: bytes, max_depth: int) -> Any:
    """The rare body with an escaped lone surrogate ("\ud800"): the standard library reads it, with
    the same refusals as orjson (NaN, Infinity, numbers beyond a double, nesting beyond the limit)
    and the same values (an integer beyond 64 bits is a float)."""
    try:
        return json.loads(
            raw, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_orjson_int
        )
    except RecursionError:
        raise BadRequest(f"body: JSON nested deeper than {max_depth} levels", field="body") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body: not valid JSON ({exc})", field="body") from None


def check_hook_request(body: dict[str, Any], hook: str) -> None:
    """Envelope, then the hook's own context; a hook that does not match the service is a 400."""
    check("cds-request.schema.json", body)
    if body["hook"] != hook:
        raise BadRequest(f"hook: this service answers {hook!r}, not {body['hook']!r}", field="hook")
    check(f"contexts/{hook}.schema.json", body["context"], prefix="context")
