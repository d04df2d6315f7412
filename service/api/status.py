"""Operational endpoints for load balancers, orchestrators and monitoring.

- `GET /health`: the process is alive and answering (liveness). Touches nothing else, so a slow
  database never gets a healthy process restarted.
- `GET /ready`: this instance can do useful work (readiness): knowledge loaded and the database
  reachable. 503 with an OperationOutcome otherwise, so the load balancer stops sending traffic
  until it recovers. At most one trivial database query.
- `GET /version`: package version, commit and knowledge version.
- `GET /metrics`: Prometheus exposition.

None of them needs or reads a JWT: `PUBLIC_PATHS` is what `service.auth` exempts. They answer
with `Cache-Control: no-store` so no proxy serves a stale "ready".
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from .. import metrics
from ..errors import error_response
from ..runtime import current
from ..version import version_info

bp = Blueprint("status", __name__)
log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/health", "/ready", "/version", "/metrics"})
_RETRY_AFTER_SECONDS = "5"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/health")
def health() -> Response:
    return _no_store(jsonify(status="ok"))


@bp.get("/ready")
def ready() -> Response:
    runtime = current()
    problems: list[str] = []
    if runtime.knowledge is None:
        problems.append("knowledge base not loaded")
    if not _database_reachable(runtime.store):
        problems.append("database not reachable")
    if problems:
        response = error_response(503, "Not ready: " + "; ".join(problems))
        response.headers["Retry-After"] = _RETRY_AFTER_SECONDS
        return _no_store(response)
    return _no_store(jsonify(status="ready"))


def _database_reachable(store: object) -> bool:
    """`store.ping()` (one `SELECT 1`); an exception counts as unreachable and is logged by type
    only, since driver messages can contain the connection URL with its password."""
    if store is None:
        return False
    try:
        return bool(store.ping())  # type: ignore[attr-defined]
    except Exception as exc:
        log.warning("readiness: database ping failed: %s", type(exc).__name__)
        return False


@bp.get("/version")
def version() -> Response:
    return _no_store(jsonify(version_info(current().knowledge)))


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    body, content_type = metrics.exposition()
    return _no_store(Response(body, content_type=content_type))
