"""spasticity-cds: a CDS Hooks service for antispastic and benzodiazepine safety at order entry.

`create_app` does all set-up (no work at import time): settings -> knowledge (validated, fail
fast) -> store -> blueprints -> error handlers -> CORS. The data path of a hook call reads left to
right: HTTP -> validate -> normalise FHIR -> gather facts (prefetch or FHIR server) -> evaluate ->
render cards -> HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from .config import Config
from .ids import new_uuid
from .version import __version__

__all__ = ["__version__", "create_app"]


def create_app(
    config: Config | Mapping[str, Any] | None = None,
    *,
    uuid_factory: Callable[[], str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    """Build the WSGI app. `uuid_factory` and `clock` are injectable so tests are deterministic."""
    from . import runtime
    from .admin import init_admin
    from .api import register_blueprints
    from .auth import init_auth
    from .errors import register_error_handlers
    from .observability import configure_logging, init_observability

    if config is None:
        cfg = Config.from_env()
    elif isinstance(config, Config):
        cfg = config
    else:
        cfg = Config.from_env(**dict(config))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]

    app.extensions["cds"] = runtime.build(
        cfg,
        uuid_factory=uuid_factory or new_uuid,
        clock=clock or (lambda: datetime.now(UTC)),
    )
    configure_logging(cfg.log_level)
    bound_streamed_bodies(app)  # before anything reads the body
    init_observability(app)  # first: the request id exists before auth logs anything
    init_auth(app)
    register_error_handlers(app)
    register_blueprints(app)
    init_admin(app)  # /admin/ only when CDS_ADMIN=on
    configure_cors(app, cfg.cors_origins, private_network=cfg.cors_private_network)
    return app


def bound_streamed_bodies(app: Flask) -> None:
    """A body sent without Content-Length (chunked) is bounded like any other: 413 beyond
    CDS_MAX_BODY_BYTES.

    Werkzeug stops reading such a stream at the limit without saying so, so an oversized chunked
    body used to arrive truncated and answer 400 "not valid JSON". Here it is read once, up to one
    byte past the limit, and handed on as an ordinary body with a Content-Length.
    """
    import io

    from flask import request
    from werkzeug.exceptions import RequestEntityTooLarge

    @app.before_request
    def _bound_chunked_body() -> None:
        environ = request.environ
        if request.method not in {"POST", "PUT", "PATCH"}:
            return
        if environ.get("CONTENT_LENGTH") and environ.get("HTTP_TRANSFER_ENCODING", "").lower() != "chunked":
            return
        limit = app.config["MAX_CONTENT_LENGTH"]
        stream = environ.get("wsgi.input")
        if stream is None or limit is None:
            return
        chunks = []
        size = 0
        while size <= limit:
            chunk = stream.read(min(64 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge()
        body = b"".join(chunks)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)  # it is an ordinary body now
        request.__dict__.pop("stream", None)  # in case anything looked at it already


def cors_origin_list(origins: str) -> str | list[str]:
    """`CDS_CORS_ORIGINS` -> what flask-cors takes: "*" or a list of origins (comma-separated).

    flask-cors treats a plain string as ONE origin (or regex), so "https://a, https://b" given as
    is matched nothing and blocked every origin."""
    parts = [part.strip() for part in origins.split(",") if part.strip()]
    if not parts or "*" in parts:
        return "*"
    return parts


def configure_cors(app: Flask, origins: str, *, private_network: bool = False) -> None:
    """CORS on every response, errors included; preflights answered (browsers such as the CDS
    Hooks sandbox send Authorization, so every call is preflighted).

    Private Network Access (`Access-Control-Allow-Private-Network: true`, which lets a public web
    page reach a service on a private address) is granted only with CDS_CORS_PRIVATE_NETWORK=1."""
    from flask_cors import CORS

    CORS(
        app,
        origins=cors_origin_list(origins),
        methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
        max_age=600,
        allow_private_network=private_network,
    )
    _skip_cors_work_without_origin(app)


def _skip_cors_work_without_origin(app: Flask) -> None:
    """Requests without an `Origin` header (EHRs calling server to server: nearly all of them) get
    flask-cors's answer for that case, worked out once here, instead of its per-request path
    matching and option resolution (6% of an irrelevant order's time in the app).

    Without an Origin flask-cors's headers depend on neither path nor method (one resource
    pattern covers every path), so the answer is computed on a neutral request; requests with an
    Origin, preflights included, still go through flask-cors itself.
    """
    from flask import Response, request

    funcs = app.after_request_funcs.setdefault(None, [])
    position = next((i for i, f in enumerate(funcs) if f.__name__ == "cors_after_request"), None)
    if position is None:
        return
    cors: Callable[[Response], Response] = funcs[position]  # type: ignore[assignment]
    with app.test_request_context("/cds-services", method="GET"):
        static = list(cors(Response()).headers.items())

    def cors_after_request(response: Response) -> Response:
        if "HTTP_ORIGIN" in request.environ:
            return cors(response)
        for name, value in static:
            if name not in response.headers:
                response.headers[name] = value
        return response

    funcs[position] = cors_after_request
