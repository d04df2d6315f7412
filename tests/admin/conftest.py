"""Admin pages through the app factory, with the fixed clock of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask


@pytest.fixture
def admin_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(admin=True)


@pytest.fixture
def admin_client(admin_app: Flask) -> Any:
    return admin_app.test_client()
