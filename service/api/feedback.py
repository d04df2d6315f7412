"""`POST /cds-services/<service_id>/feedback`: what the clinician did with our cards.

Every valid item is stored (a repeated one once) so that alert fatigue can be measured per rule;
the spec defines no response body, so success is 200 ``{}`` as the reference services answer.
Validation follows the JSON Schema in ``schemas/feedback.schema.json`` and is lenient the way real
clients are (the sandbox's override carries only ``reason.code`` and ``reason.system``); every 400
names the offending field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ..errors import BadRequest, CdsError, NotFound
from ..paths import data_path
from ..runtime import current
from ..store import parse_timestamp

log = logging.getLogger(__name__)

bp = Blueprint("feedback", __name__)

SCHEMA_NAME = "feedback.schema.json"


@bp.post("/cds-services/<service_id>/feedback")
def post_feedback(service_id: str) -> Response:
    """Validate the batch, store it, answer 200 ``{}``."""
    if not _known_service(service_id):
        raise NotFound(f"Unknown CDS service {service_id!r}; services are listed at GET /cds-services")
    body = _read_json_body()
    _validate(body)
    items = body["feedback"]
    for index, item in enumerate(items):
        try:
            parse_timestamp(item["outcomeTimestamp"])
        except ValueError:
            field = f"feedback[{index}].outcomeTimestamp"
            raise BadRequest(f"{field} is not a valid RFC 3339 date-time", field=field) from None
    runtime = current()
    stored = runtime.store.store_feedback(service_id, items, runtime.clock())
    log.info("feedback for %s: %d item(s), %d new", service_id, len(items), stored)
    return jsonify({})


def _known_service(service_id: str) -> bool:
    """Whether `service_id` is one of the services announced at discovery."""
    services = getattr(current().knowledge, "services", None)
    return isinstance(services, Mapping) and service_id in services


# -- body --------------------------------------------------------------------------------------------


def _read_json_body() -> dict[str, Any]:
    """The request body as a JSON object, bounded in size (Flask) and in nesting depth (here)."""
    mimetype = request.mimetype or ""
    structured = mimetype.startswith("application/") and mimetype.endswith("+json")
    if mimetype != "application/json" and not structured:
        raise CdsError("Content-Type must be application/json", status=415)
    raw = request.get_data(cache=False)  # raises 413 above MAX_CONTENT_LENGTH
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("Request body is not valid JSON") from None
    _check_depth(body, current().config.max_json_depth)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object with a 'feedback' array", field="body")
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_depth(value: Any, limit: int) -> None:
    """Reject documents nested deeper than `limit` (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise BadRequest(f"Request body is nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


# -- schema ------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    """Built once per process: the schema is checked, then compiled."""
    schema = json.loads(_schema_path().read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _schema_path() -> Path:
    """`schemas/` ships inside the package when installed, and sits beside it in a checkout."""
    return data_path("schemas") / SCHEMA_NAME


def _validate(body: Mapping[str, Any]) -> None:
    error = best_match(_validator().iter_errors(body))
    if error is None:
        return
    # best_match descends into anyOf branches; the branch's own complaint would mislead.
    while isinstance(error.parent, ValidationError) and error.parent.validator == "anyOf":
        error = error.parent
    field, message = describe_error(error)
    raise BadRequest(message, field=field)


def describe_error(error: ValidationError) -> tuple[str, str]:
    """A jsonschema error -> (field path like ``feedback[0].outcome``, a message naming it).

    Messages are written here rather than taken from jsonschema because its messages repeat the
    offending value, which may be megabytes long.
    """
    path = list(error.absolute_path)
    kind = error.validator
    if kind == "required":
        missing = [name for name in error.validator_value if name not in (error.instance or {})]
        if missing:
            path.append(missing[0])
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
    elif kind == "anyOf" and leaf == "overrideReason":
        text = "needs a reason, a userComment, or both"
    else:
        text = f"is invalid ({kind})"
    return field, f"{field} {text}"


def _field_name(path: list[Any]) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"
