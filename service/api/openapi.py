"""GET /openapi.json: the API description in `openapi.yaml`, converted to JSON.

The YAML is read and converted once per process (it ships inside the package when installed, see
`service.paths`); every request answers the same bytes.
"""

from __future__ import annotations

import json
from functools import lru_cache

import yaml
from flask import Blueprint, Response

from ..paths import data_path

bp = Blueprint("openapi", __name__)


@lru_cache(maxsize=1)
def openapi_document() -> bytes:
    """`openapi.yaml` as compact JSON bytes, loaded on first use and then kept."""
    document = yaml.safe_load(data_path("openapi.yaml").read_text(encoding="utf-8"))
    if not isinstance(document, dict) or "openapi" not in document:
        raise RuntimeError("openapi.yaml is not an OpenAPI document")
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return Response(openapi_document(), mimetype="application/json")
