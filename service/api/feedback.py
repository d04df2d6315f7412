"""`POST /cds-services/<service_id>/feedback`: what the clinician did with our cards.

Every valid item is stored (a repeated one once) so that alert fatigue can be measured per rule;
the spec defines no response body, so success is 200 ``{}`` as the reference services answer.
Validation follows the JSON Schema in ``schemas/feedback.schema.json`` and is lenient the way real
clients are (the sandbox's override carries only ``reason.code`` and ``reason.system``); every 400
names the offending field.

Nothing reaches the database that it cannot store: each item's stored text is checked for NUL
characters (PostgreSQL text cannot hold them) and lone surrogates (not encodable as UTF-8), and its
timestamp for a value that overflows once converted to UTC; a bad item fails the batch with a 400
naming the item's index and field, before anything is written (a batch is all or nothing).

While the database is unreachable the answer is 503 with `Retry-After` and an OperationOutcome:
feedback is never accepted unless it was stored, and a client retries later.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..errors import BadRequest, NotFound, ServiceUnavailable
from ..metrics import observe_feedback, observe_feedback_unavailable
from ..repeats import EXTENSION as REPEATS
from ..runtime import current
from ..store import StoreUnavailable, parse_timestamp
from ..validation import check, parse_json_body, read_body

log = logging.getLogger(__name__)

bp = Blueprint("feedback", __name__)

SCHEMA_NAME = "feedback.schema.json"
RETRY_AFTER_SECONDS = 10
# How long a feedback post waits for this process's queued issued-card rows, so that feedback on a
# card this worker just issued is attributed at once (the report joins late rows anyway).
_CARD_FLUSH_SECONDS = 1.0


@bp.post("/cds-services/<service_id>/feedback")
def post_feedback(service_id: str) -> Response:
    """Validate the batch, store it, answer 200 ``{}``."""
    if not _known_service(service_id):
        raise NotFound(f"Unknown CDS service {service_id!r}; services are listed at GET /cds-services")
    runtime = current()
    body = parse_json_body(read_body(request), request.content_type, runtime.config.max_json_depth)
    check(SCHEMA_NAME, body)
    items = body["feedback"]
    for index, item in enumerate(items):
        _check_storable(index, item)
    if runtime.writer is not None:
        runtime.writer.flush(timeout=_CARD_FLUSH_SECONDS)
    try:
        stored = runtime.database().store_feedback(service_id, items, runtime.clock())
    except StoreUnavailable:
        observe_feedback_unavailable()
        log.warning("feedback for %s refused: database unreachable", service_id)
        raise ServiceUnavailable(
            "Feedback cannot be stored now (database unreachable); retry later",
            retry_after=RETRY_AFTER_SECONDS,
        ) from None
    log.info("feedback for %s: %d item(s), %d new", service_id, len(items), stored)
    guard = current_app.extensions.get(REPEATS)
    if guard is not None and stored:  # this worker holds an overridden card back from the next call
        guard.refresh(runtime.clock())
    for outcome, count in Counter(str(item.get("outcome")) for item in items).items():
        observe_feedback(outcome, count)
    return jsonify({})


def _check_storable(index: int, item: Mapping[str, Any]) -> None:
    """400 naming `feedback[index].<field>` for a value the database could not store."""
    try:
        parse_timestamp(item["outcomeTimestamp"])
    except ValueError as exc:
        field = f"feedback[{index}].outcomeTimestamp"
        detail = (
            "is out of range once converted to UTC"
            if "out of range" in str(exc)
            else "is not a valid RFC 3339 date-time"
        )
        raise BadRequest(f"{field} {detail}", field=field) from None
    for path, value in _stored_text(item):
        field = f"feedback[{index}].{path}"
        if "\x00" in value:
            raise BadRequest(f"{field} contains a NUL character", field=field)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f"{field} contains a lone surrogate (not valid Unicode)", field=field) from None


def _stored_text(item: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field path, value) of every string of a schema-valid item that is written to the database."""
    for name in ("card", "outcome", "outcomeTimestamp"):
        yield name, item[name]
    for position, suggestion in enumerate(item.get("acceptedSuggestions") or []):
        yield f"acceptedSuggestions[{position}].id", suggestion["id"]
    override = item.get("overrideReason") or {}
    reason = override.get("reason") or {}
    for name in ("system", "code", "display"):
        if isinstance(reason.get(name), str):
            yield f"overrideReason.reason.{name}", reason[name]
    if isinstance(override.get("userComment"), str):
        yield "overrideReason.userComment", override["userComment"]


def _known_service(service_id: str) -> bool:
    """Whether `service_id` is one of the services announced at discovery."""
    services = getattr(current().knowledge, "services", None)
    return isinstance(services, Mapping) and service_id in services
