"""GET /cds-services: the services announced to EHRs, served from cards/services.yaml."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..runtime import current

bp = Blueprint("discovery", __name__)


@bp.get("/cds-services")
def discovery() -> Response:
    return jsonify(current().knowledge.discovery())
