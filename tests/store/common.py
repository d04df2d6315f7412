"""Helpers shared by the store tests: a fixed clock, database URLs, and the apps under test."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from flask import Flask

from spasticity_cds.config import Config
from spasticity_cds.store import Store

HOOKS = ("order-select", "order-sign", "medication-prescribe")
FIXED_NOW = datetime(2026, 11, 21, 14, 0, 0, tzinfo=UTC)


def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file in a directory that does not exist yet: the store must create it."""
    return f"sqlite:///{tmp_path / 'data' / 'cds.sqlite3'}"


def build_full_app(store: Store, clock: Callable[[], datetime], data_dir: Path) -> Flask:
    """The real service (`create_app`) on the database of `store`, using `store` itself."""
    from spasticity_cds import create_app

    app = create_app(Config(database_url=store.url, data_dir=str(data_dir)), clock=clock)
    # One store per test: swap the app's own (same database) for the fixture's and close the other.
    from spasticity_cds.writer import BackgroundWriter

    runtime = app.extensions["cds"]
    runtime.writer.close()
    runtime.store.close()
    app.extensions["cds"] = replace(runtime, store=store, writer=BackgroundWriter(store))
    return app


def build_blueprint_app(store: Store, clock: Callable[[], datetime], data_dir: Path) -> Flask:
    """Only the feedback blueprint and the error handlers around `store`.

    It holds exactly what the endpoint reads (config, the known services, store, clock), so the
    endpoint is tested on its own; the same tests run on the full app too (`build_full_app`).
    """
    from spasticity_cds.api import feedback
    from spasticity_cds.errors import register_error_handlers
    from spasticity_cds.runtime import Runtime

    config = Config(database_url=store.url, data_dir=str(data_dir))
    app = Flask("feedback-test")
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    services = {f"test-{hook}": {"id": f"test-{hook}", "hook": hook} for hook in HOOKS}
    knowledge = SimpleNamespace(services=services)
    app.extensions["cds"] = Runtime(config, knowledge, store, None, lambda: str(uuid.uuid4()), clock)
    register_error_handlers(app)
    app.register_blueprint(feedback.bp)
    return app


def service_id_for(app: Flask, hook: str) -> str:
    """The id under which `app` announces its service for `hook` (ids are data, not code)."""
    services = app.extensions["cds"].knowledge.services
    return next(service_id for service_id, entry in services.items() if entry["hook"] == hook)
