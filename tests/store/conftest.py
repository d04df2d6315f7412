"""Fixtures for the store, the feedback endpoint and the report: SQLite files and a real PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from spasticity_cds.store import Store
from tests.store.common import FIXED_NOW, build_blueprint_app, build_full_app, sqlite_url
from tests.support.postgres import PostgresServer, postgres_server  # noqa: F401 - fixture

_db_names = itertools.count()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with Store(sqlite_url(tmp_path)) as store:
        yield store


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:  # noqa: F811 - the fixture imported above
    """A fresh, empty database on the session's PostgreSQL server for each test."""
    return postgres_server.create_database(f"store_{next(_db_names)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same behaviour is required of both back ends."""
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with Store(url) as instance:
        yield instance


@pytest.fixture(params=["blueprint", "full-app"])
def feedback_app(request: pytest.FixtureRequest, sqlite_store: Store, tmp_path: Path) -> Flask:
    """The feedback endpoint alone, and inside the whole service: both must behave the same."""
    build = build_blueprint_app if request.param == "blueprint" else build_full_app
    return build(sqlite_store, lambda: FIXED_NOW, tmp_path)
