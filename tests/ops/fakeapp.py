"""A minimal app wired exactly as `create_app` wires the operational parts, for tests/ops.

The real `create_app` needs the knowledge, engine and store modules; these tests are about
health, readiness, metrics, logs and gunicorn, so they run against a `Runtime` holding small
stand-ins for knowledge and store and a hooks view that does what the real one must do for
observability: set `g.hook_instance` and `g.rules_fired` and call `observe_cards`. gunicorn loads
it as `fakeapp:build_app()` (see test_gunicorn.py), so it imports nothing from the tests package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, g, jsonify, request

from spasticity_cds.api import status
from spasticity_cds.config import Config
from spasticity_cds.errors import NotFound, register_error_handlers
from spasticity_cds.metrics import observe_cards
from spasticity_cds.observability import configure_logging, init_observability
from spasticity_cds.runtime import Runtime

SERVICE_IDS = ("spasticity-order-select", "spasticity-order-sign")
_DEFAULT: Any = object()


@dataclass
class FakeKnowledge:
    version: str = "2026.11.0"
    services: list[dict[str, Any]] = field(default_factory=lambda: [{"id": s} for s in SERVICE_IDS])


@dataclass
class FakeStore:
    """`ping()` answers `healthy`, or raises `error` when set; counts its calls."""

    healthy: bool = True
    error: Exception | None = None
    pings: int = 0

    def ping(self) -> bool:
        self.pings += 1
        if self.error is not None:
            raise self.error
        return self.healthy


hooks = Blueprint("fake_hooks", __name__)


@hooks.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Any:
    if service_id not in SERVICE_IDS:
        raise NotFound(f"No CDS service {service_id!r}")
    body = request.get_json(silent=True) or {}
    g.hook_instance = body.get("hookInstance")
    cards = [
        {
            "summary": "Baclofen with dantrolene",
            "indicator": "warning",
            "source": {"label": "test", "topic": {"code": "baclofen-dantrolene-combination"}},
        }
    ]
    g.rules_fired = [card["source"]["topic"]["code"] for card in cards]
    observe_cards(cards)
    return jsonify(cards=cards)


def build_app(knowledge: Any = _DEFAULT, store: Any = _DEFAULT, *, log_level: str = "INFO") -> Flask:
    """The app; pass `knowledge=None` for "not loaded" or a `FakeStore` to control readiness."""
    configure_logging(log_level)
    app = Flask("fakeapp")
    init_observability(app)
    app.extensions["cds"] = Runtime(
        config=Config(),
        knowledge=FakeKnowledge() if knowledge is _DEFAULT else knowledge,
        store=FakeStore() if store is _DEFAULT else store,
        fetcher=None,
        uuid_factory=lambda: "00000000-0000-4000-8000-000000000000",
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )
    register_error_handlers(app)
    app.register_blueprint(status.bp)
    app.register_blueprint(hooks)
    return app
