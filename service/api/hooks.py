"""POST /cds-services/<id>: validate -> evaluate -> hold back repeats -> record the cards -> respond.

Holding back (service/repeats.py): a non-critical card the clinician already overrode for the same
draft order of the same patient (same encounter, or within the window) is not shown again. The
response then says so in `extension` (CDS Hooks 2.0 allows a service to answer with fewer cards and
to add extension members), and the JSON access log and the Prometheus counter
`cds_cards_held_back_total{rule}` keep the rule ids and counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState

from ..cardkeys import rule_id_of
from ..errors import NotFound
from ..heap import collection_paused
from ..metrics import observe_cards, observe_held_back
from ..pipeline import find, render_cards
from ..repeats import EXTENSION as _GUARD
from ..repeats import RepeatGuard, Screened
from ..runtime import Runtime, current
from ..validation import check_hook_request, parse_json_body, read_body

bp = Blueprint("hooks", __name__)

EXTENSION_KEY = "spasticity-cds"


@bp.record_once
def _build_guard(state: BlueprintSetupState) -> None:
    """Build the repeat guard at start-up (a bad CDS_REPEAT_SECRET fails here, not on a call)."""
    rt = state.app.extensions["cds"]
    engine = getattr(rt.store, "engine", None)
    writer = getattr(rt, "writer", None)  # the one background writer also writes card_repeats
    guard = RepeatGuard.from_config(rt.config, engine, writer) if engine is not None else None
    state.app.extensions[_GUARD] = guard


def _guard() -> RepeatGuard | None:
    return current_app.extensions.get(_GUARD)  # type: ignore[no-any-return]


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    rt = current()
    service = rt.knowledge.services.get(service_id)
    if service is None:
        raise NotFound(f"No CDS service with id {service_id!r}; see GET /cds-services", field="id")
    # The parsed body lives and dies inside `_answer`: when the pause ends it is already freed.
    with collection_paused():
        response = _answer(service_id, service, rt)
    return _json_response(response)


def _answer(service_id: str, service: Mapping[str, Any], rt: Runtime) -> dict[str, Any]:
    body = parse_json_body(
        read_body(request), request.content_type, rt.config.max_json_depth, lone_surrogates="replace"
    )
    check_hook_request(body, service["hook"])
    g.hook_instance = body.get("hookInstance")
    findings = find(body, service=service, runtime=rt)
    guard = _guard()
    now = rt.clock()
    screened = guard.screen(findings, body["context"], now) if guard and findings else Screened(findings)
    cards = render_cards(screened.shown, body=body, runtime=rt)
    response: dict[str, Any] = {"cards": cards}
    held = screened.held_rules()
    g.rules_fired = [rule_id_of(card) for card in cards]
    g.rules_held_back = held
    if held:
        response["extension"] = {EXTENSION_KEY: {"heldBack": {"count": sum(held.values()), "rules": held}}}
        observe_held_back(held)
    if cards:
        rt.record_cards(service_id, cards, now)  # queued: never waits for the DB
        if guard is not None:
            guard.remember(screened, cards, now)
        observe_cards(cards)
    return response


def _json_response(value: object) -> Response:
    """`jsonify` with orjson: the same JSON (key order kept, compact) at a fraction of the cost; what
    orjson does not serialise itself (Decimal; datetimes, to keep Flask's spelling) goes through
    Flask's own JSON provider."""
    default = getattr(current_app.json, "default", None)
    body = orjson.dumps(value, default=default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    return current_app.response_class(body, mimetype="application/json")
