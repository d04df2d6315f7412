"""Fixtures for the prefetch tests: a stub FHIR server and fetchers that are always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from spasticity_cds.config import Config
from spasticity_cds.prefetch import FhirFetcher
from tests.support.fhir_stub import FhirStub


@pytest.fixture
def fhir() -> Iterator[FhirStub]:
    with FhirStub() as stub:
        yield stub


@pytest.fixture
def make_fetcher() -> Iterator[Callable[..., FhirFetcher]]:
    """Build fetchers with config overrides; all of them are closed after the test."""
    made: list[FhirFetcher] = []

    def make(on_fetch: Callable[[str, float], None] | None = None, **overrides: Any) -> FhirFetcher:
        fetcher = FhirFetcher(Config().with_overrides(**overrides), on_fetch=on_fetch)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()
