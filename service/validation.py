"""One boundary validation: request bodies read safely and checked against schemas/, once-built.

JSON is read with limits (size by Flask's MAX_CONTENT_LENGTH, nesting depth here, no NaN or
Infinity), and every schema error becomes a 400 whose message names the offending field.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

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
    parts = [prefix] if prefix else []
    parts += [str(p) for p in error.absolute_path]
    where = ".".join(parts) or "body"
    raise BadRequest(f"{where}: {error.message}", field=where)


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth, iteratively (a hostile body cannot blow the stack)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def parse_json_body(raw: bytes, content_type: str | None, max_depth: int) -> Any:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime not in JSON_TYPES and not mime.endswith("+json"):
        raise CdsError("Content-Type must be application/json", status=415, field="Content-Type")
    if not raw:
        raise BadRequest("body: a JSON object is required", field="body")
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(f"body: JSON nested deeper than {max_depth} levels", field="body") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body: not valid JSON ({exc})", field="body") from None
    if _depth(value, max_depth) > max_depth:
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
