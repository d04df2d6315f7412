"""Request ids, JSON logs and request metrics.

Every log line is one JSON object on stderr, so a log shipper (Fluent Bit, Vector, Promtail) can
index it without parsing rules, and every line written while a request is handled carries that
request's id. The id is taken from an incoming `X-Request-ID` when it is a sane token (nginx, an
ingress or the EHR may already have set one, and keeping it ties their logs to ours), otherwise a
new uuid4; it is echoed in the response.

Each request produces exactly one access line on the logger `spasticity_cds.access`. It says what
was asked and how it went, never what it contained: no header values (so never a bearer token),
no bodies, no query strings, nothing about the patient. The hooks view adds the `hookInstance`
and the ids of the rules that fired through `flask.g.hook_instance` and `flask.g.rules_fired`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Flask, Response, current_app, g, has_request_context, request

from .ids import new_uuid
from .metrics import observe_request

ACCESS_LOGGER = "spasticity_cds.access"
REQUEST_ID_HEADER = "X-Request-ID"

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_SERVICE_PATH = re.compile(r"^/cds-services/([^/]+)(?:/feedback)?/?$")
_START_KEY = "spasticity_cds.start"
_MAX_FIELD = 128  # caller-supplied text (path, service id, hookInstance) is cut to this length
# Libraries that log outgoing URLs at DEBUG: FHIR search URLs carry patient ids
# (`Observation?patient=...`), so these never log below WARNING whatever CDS_LOG_LEVEL says.
_URL_LOGGING_LIBRARIES = ("urllib3", "requests")

access_log = logging.getLogger(ACCESS_LOGGER)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, request_id.

    Structured fields are passed as `extra={"fields": {...}}` and merged into the object; nothing
    else from the record is copied, so an accidental `extra` cannot leak into the logs.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # what orjson refuses (an int beyond 64 bits, a non-str key): json can
            return json.dumps(entry, ensure_ascii=False, default=str, separators=(",", ":"))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is now (like logging.lastResort), not the stream at start-up,
    so replaced streams (test capture, gunicorn's log reopening) never receive writes after close."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr at `level` (CDS_LOG_LEVEL) for the whole process.

    Idempotent: calling it again (a second `create_app`, tests) replaces the handler it installed
    instead of stacking another, and handlers installed by others (pytest, gunicorn) are kept.
    """
    numeric = logging.getLevelName(str(level).upper())
    if not isinstance(numeric, int):
        raise ValueError(f"CDS_LOG_LEVEL: unknown level {level!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _URL_LOGGING_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def request_id() -> str:
    """The current request's id, chosen on first use (incoming header if sane, else uuid4)."""
    if "request_id" not in g:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else new_uuid()
    return str(g.request_id)


class _StartTime:
    """WSGI middleware that stamps the arrival time before Flask (and any before_request hook,
    such as JWT checks) runs, so the latency includes everything and survives early aborts."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[_START_KEY] = time.perf_counter()
        return self.wsgi_app(environ, start_response)


def init_observability(app: Flask) -> None:
    """Request ids, the access log line and request metrics for `app`.

    Register it before other before_request hooks (auth) so the id exists when they log; the
    after_request part runs for every response, including errors turned into OperationOutcomes.
    """
    app.wsgi_app = _StartTime(app.wsgi_app)  # type: ignore[method-assign]

    @app.before_request
    def _assign_request_id() -> None:
        request_id()

    @app.after_request
    def _log_and_count(response: Response) -> Response:
        rid = request_id()
        response.headers[REQUEST_ID_HEADER] = rid
        started = request.environ.get(_START_KEY)
        seconds = time.perf_counter() - started if isinstance(started, float) else 0.0
        service_id = _service_id_from_path(request.path)
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        label = service_id if service_id is not None and service_id in _known_service_ids(app) else ""
        try:
            observe_request(endpoint, response.status_code, seconds, service=label)
        except Exception as exc:  # metrics must never turn an answer into an error
            logging.getLogger(__name__).warning("metrics failed: %s", type(exc).__name__)
        if access_log.isEnabledFor(logging.INFO):
            fields = {
                "request_id": rid,
                "method": request.method,
                "path": request.path[:256],
                "service": service_id,
                "hookInstance": _short(g.get("hook_instance")),
                "status": response.status_code,
                "latency_ms": round(seconds * 1000, 2),
                "rules_fired": [_short(rule) for rule in g.get("rules_fired") or ()],
                "rules_held_back": {_short(r): n for r, n in (g.get("rules_held_back") or {}).items()},
            }
            # makeRecord + handle is `access_log.info` without the caller lookup (a stack walk for
            # a file name and line the JSON line never shows), on every request.
            record = access_log.makeRecord(
                ACCESS_LOGGER, logging.INFO, __file__, 0, "request", (), None, extra={"fields": fields}
            )
            access_log.handle(record)
        return response


def _service_id_from_path(path: str) -> str | None:
    match = _SERVICE_PATH.match(path)
    return _short(match.group(1)) if match else None


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:_MAX_FIELD]


def _known_service_ids(app: Flask) -> frozenset[str]:
    """Service ids from the knowledge base, read once per app (knowledge is immutable).

    Only these become a metrics label: a raw id from the URL of a 401 or 404 could be anything
    and would let any caller create new time series.
    """
    cache = app.extensions.get("cds.service_ids")
    if cache is not None:
        return cache  # type: ignore[no-any-return]
    runtime = current_app.extensions.get("cds")
    ids = frozenset(_service_ids(getattr(getattr(runtime, "knowledge", None), "services", None)))
    if runtime is not None:
        app.extensions["cds.service_ids"] = ids
    return ids


def _service_ids(services: Any) -> Iterable[str]:
    """Ids from `Knowledge.services`: a mapping keyed by id, or items with `.id` or `["id"]`."""
    if services is None:
        return ()
    if isinstance(services, Mapping):
        return [str(key) for key in services]
    ids = []
    for item in services:
        value = item.get("id") if isinstance(item, Mapping) else getattr(item, "id", item)
        if isinstance(value, str):
            ids.append(value)
    return ids
