"""What one running service holds: settings, knowledge, store, FHIR fetcher, clock and uuids.

Built once by `create_app` and kept in `app.extensions["cds"]`; views read it through
`current()`. Nothing here is mutable after start-up except the store's database and the
background writer's queue (`writer`: issued cards and other bookkeeping rows leave the request
path there, see `service.writer`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app

from .config import Config

if TYPE_CHECKING:  # the real classes, imported lazily at run time (start-up order, no cycles)
    from .knowledge import Knowledge
    from .prefetch import FhirFetcher
    from .store import Store
    from .writer import BackgroundWriter


@dataclass(frozen=True)
class Runtime:
    config: Config
    knowledge: Knowledge
    store: Store | None  # None: nothing is recorded (`spasticity-cds evaluate`)
    fetcher: FhirFetcher
    uuid_factory: Callable[[], str]
    clock: Callable[[], datetime]
    writer: BackgroundWriter | None = None  # None: record synchronously (tests, tools)

    def database(self) -> Store:
        """The store, for paths that only run in a server (which always has one): a runtime built
        without a database (`spasticity-cds evaluate`) answers 503 there, never an AttributeError."""
        if self.store is None:
            from .store import StoreUnavailable

            raise StoreUnavailable("this runtime has no database")
        return self.store

    def record_cards(
        self, service_id: str, cards: Sequence[Mapping[str, Any]], issued_at: datetime, **extra: Any
    ) -> None:
        """Record issued cards without waiting for (or failing because of) the database."""
        if self.writer is not None:
            self.writer.record_cards(service_id, cards, issued_at, **extra)
        elif self.store is not None:
            self.store.record_cards(service_id, cards, issued_at, **extra)


def build(config: Config, *, uuid_factory: Callable[[], str], clock: Callable[[], datetime]) -> Runtime:
    from .fhir import warm_up
    from .knowledge import load_knowledge
    from .metrics import observe_fetch
    from .prefetch import FhirFetcher
    from .store import Store
    from .writer import BackgroundWriter

    knowledge = load_knowledge()
    warm_up()
    # A worker must boot while the database is away: the schema is made when it answers.
    store = Store(config.effective_database_url, retry_in_background=True)
    writer = BackgroundWriter(
        store, capacity=config.record_queue_max, spool_dir=Path(config.data_dir) / "spool"
    )
    writer.every(JTI_PURGE_SECONDS, store.purge_expired_jtis)
    fetcher = FhirFetcher(config, on_fetch=observe_fetch)
    return Runtime(config, knowledge, store, fetcher, uuid_factory, clock, writer)


JTI_PURGE_SECONDS = 60.0  # expired JWT ids are deleted this often, by the writer thread


def current() -> Runtime:
    return current_app.extensions["cds"]  # type: ignore[no-any-return]
