"""Fixtures for the operational tests: an app wired like `create_app`, and a clean root logger."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .fakeapp import FakeStore, build_app

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    """`configure_logging` changes process-wide logging; give other test modules theirs back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    libraries = {name: logging.getLogger(name).level for name in ("urllib3", "requests")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lib_level in libraries.items():
        logging.getLogger(name).setLevel(lib_level)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def app(store: FakeStore) -> Flask:
    return build_app(store=store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
