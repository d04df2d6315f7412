"""The Store: one object over every table, and the schema's life cycle (migrate, retry, refuse).

The table modules (cards, feedback, replay, report) each add their methods; this module adds the
connection, `ensure_schema()` and the background retry a worker needs to boot without a database.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Connection, func, inspect, select, text

from .cards import CardsStore
from .connection import dispose_pool_after_fork, make_engine
from .feedback import FeedbackStore
from .replay import ReplayStore
from .report import ReportStore
from .schema import (
    SCHEMA_VERSION,
    StoreError,
    StoreUnavailable,
    dialect_insert,
    is_unavailable,
    schema_version,
)

log = logging.getLogger(__package__ or __name__)  # the store package, one logger for its modules

_PG_SCHEMA_LOCK = 0x5CD5_0001
SCHEMA_RETRY_FIRST = 0.5
SCHEMA_RETRY_MAX = 5.0


class Store(CardsStore, FeedbackStore, ReplayStore, ReportStore):
    """Issued cards, feedback and seen JWT ids in one SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, retry_in_background: bool = False) -> None:
        """Connect and create the tables if needed (safe when several workers start at once).

        With `retry_in_background`, an unreachable database is not an error: the schema is made by
        a daemon thread as soon as the database answers (a service worker must boot without it).
        A schema newer than this code still raises `StoreError` when it is seen.
        """
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._schema_ready = threading.Event()
        self._schema_lock = threading.Lock()
        self._closed = False
        try:
            self.ensure_schema()
        except Exception as exc:
            if not (retry_in_background and is_unavailable(exc)):
                self.engine.dispose()
                raise
            log.warning(
                "database unreachable at start-up (%s); retrying in the background", type(exc).__name__
            )
            threading.Thread(target=self._retry_schema, name="cds-schema-retry", daemon=True).start()
        dispose_pool_after_fork(self.engine)

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every pooled connection (tests, and a clean shutdown)."""
        self._closed = True
        self.close_replay()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> bool:
        """True when the database answers a trivial query (used by the status endpoint)."""
        try:
            self.ensure_schema()
            with self.engine.connect().execution_options(cds_readonly=True) as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False

    @property
    def schema_ready(self) -> bool:
        return self._schema_ready.is_set()

    def ensure_schema(self) -> None:
        """Create the tables unless this process already has; raises when the database is away."""
        if self._schema_ready.is_set():
            return
        with self._schema_lock:
            if self._schema_ready.is_set():
                return
            try:
                self._create_schema()
            except StoreError:
                raise
            except Exception as exc:
                if is_unavailable(exc):
                    raise StoreUnavailable("database unreachable") from None
                raise
            self._schema_ready.set()

    def _retry_schema(self) -> None:
        pause = SCHEMA_RETRY_FIRST
        while not self._closed and not self._schema_ready.is_set():
            time.sleep(pause)
            try:
                self.ensure_schema()
            except StoreUnavailable:
                pause = min(pause * 2, SCHEMA_RETRY_MAX)
            except Exception as exc:  # noqa: BLE001 - e.g. StoreError: say so, keep not-ready
                log.error(
                    "database schema cannot be used: %s",
                    exc if isinstance(exc, StoreError) else type(exc).__name__,
                )
                return
            else:
                log.warning("database reachable: schema ready")

    def _create_schema(self) -> None:
        """Migrate the database to the newest revision (Alembic `upgrade head`, service/migrations/)
        under the schema lock; a database made by `create_all` before migrations is adopted."""
        from ..migrations import NewerSchemaError, upgrade

        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Two workers starting together must not both migrate: the transaction-level lock
                # makes the second one wait, then find the database at head. (SQLite: the write
                # transaction is BEGIN IMMEDIATE, which serialises the same way.)
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
            stored = self._stored_version(conn)
            if stored is not None and stored > SCHEMA_VERSION:
                raise StoreError(
                    f"database schema version {stored} is newer than this service understands "
                    f"({SCHEMA_VERSION}); upgrade the service"
                )
            try:
                upgrade(conn)
            except NewerSchemaError as exc:
                raise StoreError(f"{exc}; upgrade the service") from None
            if stored is None:
                conn.execute(
                    dialect_insert(self.dialect, schema_version)
                    .values(version=SCHEMA_VERSION, applied_at=datetime.now(UTC))
                    .on_conflict_do_nothing()
                )

    @staticmethod
    def _stored_version(conn: Connection) -> int | None:
        """The `schema_version` row (kept so that older services, which read it, refuse a newer
        database); None when the table or its row does not exist yet."""
        if not inspect(conn).has_table(schema_version.name):
            return None
        value = conn.execute(select(func.max(schema_version.c.version))).scalar()
        return None if value is None else int(value)
