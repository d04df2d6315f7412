"""POST /cds-services/<id>: validate -> evaluate -> record the cards issued -> respond."""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, g, request

from ..errors import NotFound
from ..metrics import observe_cards
from ..pipeline import evaluate_hook
from ..runtime import current
from ..validation import check_hook_request, parse_json_body

bp = Blueprint("hooks", __name__)


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    rt = current()
    service = rt.knowledge.services.get(service_id)
    if service is None:
        raise NotFound(f"No CDS service with id {service_id!r}; see GET /cds-services", field="id")
    body = parse_json_body(request.get_data(cache=False), request.content_type, rt.config.max_json_depth)
    check_hook_request(body, service["hook"])
    g.hook_instance = body.get("hookInstance")
    response = evaluate_hook(body, service=service, runtime=rt)
    g.rules_fired = [card["source"]["topic"]["code"] for card in response["cards"]]
    if response["cards"]:
        rt.record_cards(service_id, response["cards"], rt.clock())  # queued: never waits for the DB
        observe_cards(response["cards"])
    return _json_response(response)


def _json_response(value: object) -> Response:
    """`jsonify` with orjson: the same JSON (key order kept, compact) at a fraction of the cost; what
    orjson does not serialise itself (Decimal; datetimes, to keep Flask's spelling) goes through
    Flask's own JSON provider."""
    default = getattr(current_app.json, "default", None)
    body = orjson.dumps(value, default=default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    return current_app.response_class(body, mimetype="application/json")
