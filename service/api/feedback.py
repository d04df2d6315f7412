"""`POST /cds-services/<service_id>/feedback`: what the clinician did with our cards.

Every valid item is stored (a repeated one once) so that alert fatigue can be measured per rule;
the spec defines no response body, so success is 200 ``{}`` as the reference services answer.
Validation follows the JSON Schema in ``schemas/feedback.schema.json`` and is lenient the way real
clients are (the sandbox's override carries only ``reason.code`` and ``reason.system``); every 400
names the offending field.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping

from flask import Blueprint, Response, jsonify, request

from ..errors import BadRequest, NotFound
from ..metrics import observe_feedback
from ..runtime import current
from ..store import parse_timestamp
from ..validation import check, parse_json_body

log = logging.getLogger(__name__)

bp = Blueprint("feedback", __name__)

SCHEMA_NAME = "feedback.schema.json"


@bp.post("/cds-services/<service_id>/feedback")
def post_feedback(service_id: str) -> Response:
    """Validate the batch, store it, answer 200 ``{}``."""
    if not _known_service(service_id):
        raise NotFound(f"Unknown CDS service {service_id!r}; services are listed at GET /cds-services")
    runtime = current()
    body = parse_json_body(request.get_data(cache=False), request.content_type, runtime.config.max_json_depth)
    check(SCHEMA_NAME, body)
    items = body["feedback"]
    for index, item in enumerate(items):
        try:
            parse_timestamp(item["outcomeTimestamp"])
        except ValueError:
            field = f"feedback[{index}].outcomeTimestamp"
            raise BadRequest(f"{field} is not a valid RFC 3339 date-time", field=field) from None
    stored = runtime.store.store_feedback(service_id, items, runtime.clock())
    log.info("feedback for %s: %d item(s), %d new", service_id, len(items), stored)
    for outcome, count in Counter(str(item.get("outcome")) for item in items).items():
        observe_feedback(outcome, count)
    return jsonify({})


def _known_service(service_id: str) -> bool:
    """Whether `service_id` is one of the services announced at discovery."""
    services = getattr(current().knowledge, "services", None)
    return isinstance(services, Mapping) and service_id in services
