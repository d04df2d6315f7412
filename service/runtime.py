"""What one running service holds: settings, knowledge, store, FHIR fetcher, clock and uuids.

Built once by `create_app` and kept in `app.extensions["cds"]`; views read it through
`current()`. Nothing here is mutable after start-up except the store's database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from .config import Config


@dataclass(frozen=True)
class Runtime:
    config: Config
    knowledge: Any  # service.knowledge.Knowledge
    store: Any  # service.store.Store
    fetcher: Any  # service.prefetch.FhirFetcher
    uuid_factory: Callable[[], str]
    clock: Callable[[], datetime]


def build(config: Config, *, uuid_factory: Callable[[], str], clock: Callable[[], datetime]) -> Runtime:
    from .fhir import warm_up
    from .knowledge import load_knowledge
    from .metrics import observe_fetch
    from .prefetch import FhirFetcher
    from .store import Store

    knowledge = load_knowledge()
    warm_up()
    store = Store(config.effective_database_url)
    fetcher = FhirFetcher(config, on_fetch=observe_fetch)
    return Runtime(config, knowledge, store, fetcher, uuid_factory, clock)


def current() -> Runtime:
    return current_app.extensions["cds"]  # type: ignore[no-any-return]
