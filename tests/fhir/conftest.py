"""Fixtures for the FHIR edge tests: the captured sandbox requests, kept in tests/fixtures/sandbox.

The captures are copies of /work/shared/sandbox/requests (real traffic from the CDS Hooks sandbox),
so these tests do not depend on anything outside the repository.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SANDBOX = Path(__file__).resolve().parent.parent / "fixtures" / "sandbox"


@pytest.fixture
def sandbox() -> Callable[[str], dict[str, Any]]:
    """Load one captured sandbox request by file stem."""

    def load(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((SANDBOX / f"{name}.json").read_text(encoding="utf-8"))
        return loaded

    return load
