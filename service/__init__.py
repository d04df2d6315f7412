"""spasticity-cds: a CDS Hooks service for antispastic and benzodiazepine safety at order entry.

`create_app` does all set-up (no work at import time): settings -> knowledge (validated, fail
fast) -> store -> blueprints -> error handlers -> CORS. The data path of a hook call reads left to
right: HTTP -> validate -> normalise FHIR -> gather facts (prefetch or FHIR server) -> evaluate ->
render cards -> HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from .config import Config

__version__ = "0.2.0"


def create_app(
    config: Config | Mapping[str, Any] | None = None,
    *,
    uuid_factory: Callable[[], str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    """Build the WSGI app. `uuid_factory` and `clock` are injectable so tests are deterministic."""
    from . import runtime
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
        uuid_factory=uuid_factory or (lambda: str(uuid.uuid4())),
        clock=clock or (lambda: datetime.now(UTC)),
    )
    configure_logging(cfg.log_level)
    init_observability(app)  # first: the request id exists before auth logs anything
    init_auth(app)
    register_error_handlers(app)
    register_blueprints(app)
    configure_cors(app, cfg.cors_origins)
    return app


def configure_cors(app: Flask, origins: str) -> None:
    """CORS on every response, errors included; preflights answered (browsers such as the CDS
    Hooks sandbox send Authorization, so every call is preflighted)."""
    from flask_cors import CORS

    CORS(
        app,
        origins=origins,
        methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
        max_age=600,
        allow_private_network=True,
    )
