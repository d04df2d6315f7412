"""Fixtures of the API tests: a stub FHIR server on 127.0.0.1, always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fhir_stub import FhirStub


@pytest.fixture
def fhir() -> Iterator[FhirStub]:
    with FhirStub() as stub:
        yield stub
