"""Shared fixtures: apps built through the factory with a fixed clock, counting uuids, a
temporary database, and no CDS_* variables leaking in from the developer's shell.

A test that needs a server installed on the machine (nginx, PostgreSQL, wrk, git, podman) calls
`require_server(name)` (tests/support/require.py, re-exported here): a skip with a clear message
locally, a FAILURE under CI=true, so CI can never go green while silently skipping them."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from spasticity_cds import create_app
from spasticity_cds.config import Config
from spasticity_cds.knowledge import Knowledge, load_knowledge
from tests.support.require import require_server

__all__ = ["NOW", "REPO", "counting_uuids", "require_server"]

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parent.parent


def counting_uuids() -> Callable[[], str]:
    """Deterministic, valid v4-shaped uuids: 00000000-0000-4000-8000-000000000001, ..."""
    counter = itertools.count(1)
    return lambda: f"00000000-0000-4000-8000-{next(counter):012d}"


@pytest.fixture(autouse=True)
def _no_cds_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CDS_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge()


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    def build(**overrides: Any) -> Flask:
        overrides.setdefault("data_dir", str(tmp_path / "data"))
        return create_app(Config(**overrides), uuid_factory=counting_uuids(), clock=lambda: NOW)

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    yield make_app()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()
