"""Connections: the SQLAlchemy engine for SQLite or PostgreSQL, and the base every store part uses.

SQLite (the embedded default): WAL mode so readers never block the writer, a busy timeout so
concurrent writers (threads, gunicorn workers) wait instead of failing, and every write
transaction opened with ``BEGIN IMMEDIATE`` so a transaction that reads before it writes cannot
hit ``SQLITE_BUSY`` on lock upgrade (a busy timeout does not cover that case). PostgreSQL
(``postgresql+psycopg://``): pooled connections checked before use, bounded connect and pool waits.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool

from .schema import SQLITE_BUSY_TIMEOUT_MS, StoreError

PG_CONNECT_TIMEOUT = 2


class StoreBase:
    """What the table modules (cards, feedback, replay, report) need of a store: its engine, its
    dialect and `ensure_schema()`. `service.store.Store` provides them."""

    engine: Engine
    dialect: str

    def ensure_schema(self) -> None:
        raise NotImplementedError

    def engine_for(self, table: Table) -> Engine:
        """The engine holding `table` (the background writer writes each table through its own)."""
        return self.engine


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        in_memory = database in {"", ":memory:"} or database.startswith("file::memory:")
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        kwargs: dict[str, Any] = {"connect_args": connect_args}
        if in_memory:
            kwargs["poolclass"] = StaticPool  # one shared connection, or every checkout sees an empty DB
        else:
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            pool_recycle=1800,
            pool_timeout=5,  # a request waiting for a pooled connection gives up, it does not hang
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT},
        )
    raise StoreError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def configure_sqlite(engine: Engine) -> None:
    """WAL, busy timeout, foreign keys; and explicit BEGIN so writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")  # first: WAL switch may wait
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")  # durable in WAL mode except on power loss
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that reads first and then
        # writes can fail with SQLITE_BUSY at lock upgrade regardless of the busy timeout.
        mode = "DEFERRED" if conn.get_execution_options().get("cds_readonly") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


def sqlite_file(engine: Engine) -> str | None:
    """The SQLite database file of `engine`; None for PostgreSQL and for in-memory databases (whose
    one shared connection is the database: another connection would open another, empty one)."""
    if engine.dialect.name != "sqlite" or isinstance(engine.pool, StaticPool):
        return None
    database = engine.url.database or ""
    if database in {"", ":memory:"} or database.startswith("file::memory:"):
        return None
    return str(Path(database).expanduser())


def connect_sqlite_nowait(database: str) -> Any:
    """A DBAPI connection to a SQLite file that never waits for a lock: busy timeout 0, so a
    caller that must not sleep in SQLite's busy handler (1, 2, 5 ... 100 ms steps) gets
    SQLITE_BUSY at once and waits in its own steps. Otherwise as `configure_sqlite` sets up a
    pooled connection: no implicit transactions, synchronous NORMAL; the database is in WAL mode
    already (the engine's first connection switched it, and the mode is kept in the file)."""
    timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
    connection = sqlite3.connect(database, timeout=timeout, check_same_thread=False, isolation_level=None)
    try:
        # Reads the schema: in WAL mode even a reader can meet a brief SQLITE_BUSY (another
        # connection restarting the WAL), so this still waits as every connection does.
        connection.execute("PRAGMA synchronous = NORMAL")  # durable in WAL mode except on power loss
        connection.execute("PRAGMA busy_timeout = 0")  # from here on the caller does the waiting
    except BaseException:
        connection.close()
        raise
    return connection


def dispose_pool_after_fork(engine: Engine) -> None:
    """A forked child (gunicorn --preload) must not share the parent's pooled sockets."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(engine)

    def _after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=_after_fork)
