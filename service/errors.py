"""Errors as FHIR OperationOutcome JSON, never HTML and never a stack trace.

Every failure the service can answer with is a `CdsError` carrying its HTTP status, an
OperationOutcome issue code, and a message that names the offending field. Flask's own HTTP
errors (404 routing, 405, 413 ...) are turned into the same shape, and CORS headers are added to
them by flask-cors like to any other response.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# HTTP status -> OperationOutcome issue code (http://hl7.org/fhir/issue-type)
_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    412: "not-found",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
    503: "transient",
}


class CdsError(Exception):
    """An error with an HTTP status that serialises itself as an OperationOutcome."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status


class BadRequest(CdsError):
    status = 400


class NotFound(CdsError):
    status = 404


class PreconditionFailed(CdsError):
    """412: data that a relevant rule needs could neither be prefetched nor fetched.

    `message` (what the client sees) names the key only. `detail` says why the network failed
    (timed out, HTTP 404, connection refused ...): it goes to the log and to `str(exc)`, never to
    the client, since telling those apart lets a caller probe which hosts and ports answer.
    """

    status = 412

    def __init__(self, message: str, *, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(message, field=field)
        self.detail = detail
        if detail:
            Exception.__init__(self, f"{message} ({detail})")


class ServiceUnavailable(CdsError):
    """503: a dependency (the database) is away for now; `Retry-After` tells the client when to retry."""

    status = 503

    def __init__(self, message: str, *, retry_after: int = 10) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthorized(CdsError):
    """401 with no detail, as CDS Hooks best practice asks."""

    status = 401

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def operation_outcome(status: int, message: str, field: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "error" if status < 500 else "fatal",
        "code": _ISSUE_CODES.get(status, "processing"),
        "diagnostics": message,
    }
    if field:
        issue["expression"] = [field]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def error_response(status: int, message: str, field: str | None = None) -> Response:
    response = jsonify(operation_outcome(status, message, field))
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CdsError)
    def _cds_error(exc: CdsError) -> Response:
        response = error_response(exc.status, exc.message, exc.field)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(int(retry_after))
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = {
            404: "No such endpoint; services are listed at GET /cds-services",
            405: "Method not allowed on this endpoint",
            413: "Request body is larger than the configured limit (CDS_MAX_BODY_BYTES)",
        }.get(status, exc.description or exc.name)
        response = error_response(status, message)
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        from .store import is_unavailable

        if is_unavailable(exc):
            # A database outage is transient, not a bug: say so and when to retry.
            log.warning("database unreachable: %s", type(exc).__name__)
            response = error_response(
                503, "Service temporarily unavailable (database unreachable); retry later"
            )
            response.headers["Retry-After"] = "10"
            return response
        # Log the type only: the message of an arbitrary exception may carry patient data.
        log.error("unhandled error: %s", type(exc).__name__, exc_info=app.debug)
        return error_response(500, "Internal error; the request was not processed")
