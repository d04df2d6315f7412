"""Replay protection: JWT ids already seen, claimed atomically so every replica refuses a replay.

With a SQLite file database the claims live in a file of their own beside it (`replay_file`):
SQLite has one write lock per file, and the background writer's card batches hold it for tens of
milliseconds under load (a transaction of several statements, its thread preempted by the busy
workers), so a claim in the same file waited behind them on most authenticated calls. In a file of
its own a claim only ever meets other claims, each holding the lock for one short statement.
PostgreSQL locks rows, not the database: there the table stays in the one database.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, bindparam, func, select
from sqlalchemy.exc import OperationalError

from . import schema
from .connection import StoreBase, connect_sqlite_nowait, dispose_pool_after_fork, make_engine, sqlite_file
from .schema import StoreUnavailable, UtcDateTime, dialect_insert, is_unavailable, seen_jti

# Waiting for SQLite's write lock in a claim: first pause and longest pause, in seconds.
CLAIM_RETRY_FIRST = 0.0001
CLAIM_RETRY_MAX = 0.002
MAX_IDLE_CLAIM_CONNECTIONS = 8  # per store (process): about one per request thread
_UNSET: Any = object()


@dataclass(frozen=True)
class _ClaimStatement:
    """The claim's SQL as SQLAlchemy compiles it for this engine's dialect and driver (placeholders,
    casts), and how to turn (jti, expires_at, now) into the driver's parameters (the column types'
    own bind processors: `UtcDateTime` stores naive UTC, in SQLite as SQLAlchemy's text format)."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    processors: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def build(cls, engine: Engine) -> _ClaimStatement:
        dialect = engine.dialect
        table = seen_jti
        statement = dialect_insert(dialect.name, table).values(
            jti=bindparam("jti", type_=table.c.jti.type),
            expires_at=bindparam("expires_at", type_=UtcDateTime()),
        )
        # No RETURNING: the row count says whether the row was inserted or taken over (1) or the
        # WHERE kept a live claim (0), in both databases; and in SQLite the statement then runs to
        # completion, and commits, inside one call into the driver (see `claim_jti`).
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.jti],
            set_={"expires_at": statement.excluded.expires_at},
            where=table.c.expires_at <= bindparam("now", type_=UtcDateTime()),
        )
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ("jti", "expires_at", "now"))
        processors = tuple(compiled.binds[name].type.bind_processor(dialect) for name in names)
        return cls(compiled.string, names, bool(compiled.positional), processors)

    def parameters(self, values: dict[str, Any]) -> Any:
        bound = [
            value if process is None else process(value)
            for value, process in zip((values[name] for name in self.names), self.processors, strict=True)
        ]
        return tuple(bound) if self.positional else dict(zip(self.names, bound, strict=True))


class _NoWaitConnections:
    """SQLite connections used only by the jti claim, with no busy timeout (see `_claim_sqlite`).

    Kept apart from the engine's pool so that no other statement ever runs without SQLite's busy
    handler, and so that a claim costs exactly one statement: no PRAGMA switching the timeout off
    and on around it. Each of those statements is a call into SQLite that lets go of the GIL, and
    under load getting the GIL back can take up to the interpreter's switch interval (5 ms) while
    the worker's other threads run. At most `MAX_IDLE_CLAIM_CONNECTIONS` idle ones are kept; a
    forked child starts with none (a SQLite connection must not cross a fork).
    """

    def __init__(self, database: str) -> None:
        self.database = database
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def take(self) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # inherited: leave the parent's connections alone
                _INHERITED.extend(self._idle)
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return connect_sqlite_nowait(self.database)

    def give_back(self, connection: Any) -> None:
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < MAX_IDLE_CLAIM_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


_INHERITED: list[Any] = []  # connections a forked child must neither use nor close


def _claim_sqlite(connection: Any, sql: str, params: Any, busy_timeout_ms: int) -> int:
    """Run the claim, waiting for SQLite's write lock in short steps rather than SQLite's own.

    The lock is held by other workers' claims and background writers, usually briefly. SQLite's
    busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between tries, so a claim that finds the
    lock taken waits for its next step, often long after the lock was freed, while its request
    holds a client connection. On a connection with busy timeout 0, a busy statement (which
    changed nothing: it failed before starting its write) is retried after CLAIM_RETRY_FIRST
    seconds, doubling to CLAIM_RETRY_MAX, for as long as SQLite would have waited
    (`SQLITE_BUSY_TIMEOUT_MS`); so is the brief SQLITE_BUSY a WAL reader can meet. Returns the
    statement's row count.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = CLAIM_RETRY_FIRST
    while True:
        try:
            return int(connection.execute(sql, params).rowcount)
        except sqlite3.OperationalError as exc:
            busy = (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, CLAIM_RETRY_MAX)


def replay_file(database: str) -> str:
    """The SQLite file of the jti claims for the database file `database`: beside it, its name with
    ".replay" before the suffix (spasticity-cds.sqlite3 -> spasticity-cds.replay.sqlite3)."""
    path = Path(database)
    return str(path.with_name(f"{path.stem}.replay{path.suffix or '.sqlite3'}"))


class ReplayStore(StoreBase):
    """The `seen_jti` table: in the database itself, or for a SQLite file in its own file."""

    _claim_statement: _ClaimStatement | None = None
    _claim_statement_lock = threading.Lock()

    @property
    def replay_engine(self) -> Engine:
        """The engine of the `seen_jti` table: `engine` itself, except for a SQLite file (see the
        module's docstring), where it is an engine on `replay_file`, made with its table on first
        use. Raises `StoreUnavailable` when that file cannot be opened or written."""
        found = self.__dict__.get("_replay_engine")
        if found is not None:
            return found  # type: ignore[no-any-return]
        with self._claim_statement_lock:
            found = self.__dict__.get("_replay_engine")
            if found is None:
                database = sqlite_file(self.engine)
                found = self.engine if database is None else _replay_sqlite_engine(database, self.engine)
                self.__dict__["_replay_engine"] = found
        return found

    def engine_for(self, table: Table) -> Engine:
        return self.replay_engine if table is seen_jti else super().engine_for(table)

    def close_replay(self) -> None:
        """Close the claims file's connections when it has its own engine (part of `close`)."""
        found = self.__dict__.pop("_replay_engine", None)
        if found is not None and found is not self.engine:
            found.dispose()
        nowait = self.__dict__.pop("_claim_connections", None)
        if isinstance(nowait, _NoWaitConnections):
            nowait.close()

    def _ready_replay_engine(self) -> Engine:
        """`replay_engine` with its table there: the database's schema when it is the database."""
        engine = self.replay_engine
        if engine is self.engine:
            self.ensure_schema()
        return engine

    def claim_jti(self, jti: str, expires_at: datetime, *, now: datetime | None = None) -> bool:
        """Claim a JWT id until it expires; False when it is already claimed and still valid.

        One statement, atomic in both databases and therefore across processes and replicas:
        insert, or on conflict take over the row only if the stored claim has expired. Expired
        claims are removed by `purge_expired_jtis` (run periodically in the background). Raises
        `StoreUnavailable` when the database does not answer.

        This runs on every authenticated call, so it skips what SQLAlchemy's Connection adds per
        call (statement construction and cache lookup, events, the transaction object): the SQL is
        compiled by SQLAlchemy once per store and run on a DBAPI connection, the pool's for
        PostgreSQL, for a SQLite file one of the claim's own (`_NoWaitConnections`). In SQLite
        (autocommit at the driver level) the single statement is its own transaction: the write
        lock is taken when it starts and released when it ends, inside one call into the driver,
        never held while this thread waits for the GIL between a BEGIN and a COMMIT, so the
        workers' claims hold the lock for as short a time as possible. A write statement starts as
        a write transaction, so the lock-upgrade SQLITE_BUSY that `BEGIN IMMEDIATE` prevents for
        read-then-write transactions cannot happen here.
        """
        now = (now or datetime.now(UTC)).astimezone(UTC)
        try:
            claim = self._claim_statement or self._build_claim_statement()
            params = claim.parameters({"jti": jti, "expires_at": expires_at, "now": now})
            engine = self._ready_replay_engine()
            return self._execute_claim(engine, claim.sql, params)
        except Exception as exc:
            if is_unavailable(exc) or self._dbapi_unavailable(exc):
                raise StoreUnavailable("database unreachable") from None
            raise

    def _build_claim_statement(self) -> _ClaimStatement:
        with self._claim_statement_lock:
            if self._claim_statement is None:
                self._claim_statement = _ClaimStatement.build(self.engine)
            return self._claim_statement

    def _execute_claim(self, engine: Engine, sql: str, params: Any) -> bool:
        nowait = self._nowait_connections()
        if nowait is not None:
            connection = nowait.take()
            try:
                rows = _claim_sqlite(connection, sql, params, schema.SQLITE_BUSY_TIMEOUT_MS)
            except BaseException:
                connection.close()  # whatever went wrong, this connection is not reused
                raise
            nowait.give_back(connection)
            return rows == 1
        return self._execute_pooled_claim(engine, sql, params)

    def _nowait_connections(self) -> _NoWaitConnections | None:
        """The claims file's connections (`replay_engine`'s file); None for PostgreSQL and in-memory
        SQLite."""
        found = self.__dict__.get("_claim_connections", _UNSET)
        if found is _UNSET:
            engine = self.replay_engine  # before the lock: making it takes the same lock
            with self._claim_statement_lock:
                found = self.__dict__.get("_claim_connections", _UNSET)
                if found is _UNSET:
                    database = sqlite_file(engine)
                    found = None if database is None else _NoWaitConnections(database)
                    if found is not None:
                        weakref.finalize(self, found.close)
                    self.__dict__["_claim_connections"] = found
        return found  # type: ignore[no-any-return]

    def _execute_pooled_claim(self, engine: Engine, sql: str, params: Any) -> bool:
        """PostgreSQL (row locks: no database-wide lock to wait for) and in-memory SQLite."""
        connection = engine.raw_connection()  # the pool: pre-ping, reset on return, as usual
        cursor = None
        try:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            claimed = cursor.rowcount == 1
            cursor.close()
            cursor = None
            connection.commit()  # PostgreSQL's transaction; in SQLite the statement has committed
            return claimed
        except Exception as exc:
            dialect = engine.dialect
            raw = connection.dbapi_connection
            if isinstance(exc, dialect.loaded_dbapi.Error) and dialect.is_disconnect(exc, raw, cursor):
                connection.invalidate(exc)  # never hand a dead connection to the next call
            raise
        finally:
            if cursor is not None:
                cursor.close()
            connection.close()  # back to the pool, which rolls back whatever is left open

    def _dbapi_unavailable(self, exc: BaseException) -> bool:
        """A driver error SQLAlchemy would have wrapped as OperationalError or InterfaceError."""
        dbapi = self.engine.dialect.loaded_dbapi
        return isinstance(exc, dbapi.OperationalError | dbapi.InterfaceError)

    def purge_expired_jtis(self, *, now: datetime | None = None) -> int:
        """Delete JWT ids whose claim has expired; returns how many. Keeps the table the size of
        the tokens still alive; run by the background writer thread, not by each request."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        with self._ready_replay_engine().begin() as conn:
            result = conn.execute(seen_jti.delete().where(seen_jti.c.expires_at <= now))
        return int(result.rowcount or 0)

    def seen_jti_count(self) -> int:
        """Number of recorded JWT ids (monitoring and tests)."""
        with self._ready_replay_engine().connect().execution_options(cds_readonly=True) as conn:
            return int(conn.execute(select(func.count()).select_from(seen_jti)).scalar_one())


def _replay_sqlite_engine(database: str, main: Engine) -> Engine:
    """An engine on the claims file of `database`, with the `seen_jti` table and its index (made if
    missing; the write transaction is BEGIN IMMEDIATE, so workers starting together take turns).
    Raises StoreUnavailable.

    The worker that makes the table copies in the claims still alive in the database's own
    `seen_jti` (where releases before 2026-12-07 kept them, and where a downgrade finds them
    again): a token accepted just before an upgrade stays refused after it."""
    engine = make_engine(f"sqlite:///{replay_file(database)}")
    try:
        with engine.begin() as conn:
            made_here = not conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (seen_jti.name,)
            ).first()
            if made_here:
                seen_jti.create(conn)  # with its index
                live = _live_claims(main)
                if live:
                    conn.execute(seen_jti.insert(), live)
    except Exception as exc:
        engine.dispose()
        if is_unavailable(exc):
            raise StoreUnavailable("jti claims file unusable") from None
        raise
    dispose_pool_after_fork(engine)
    return engine


def _live_claims(main: Engine) -> list[dict[str, Any]]:
    """The unexpired rows of the database's own `seen_jti`; none when it has no such table."""
    now = datetime.now(UTC)
    try:
        with main.connect().execution_options(cds_readonly=True) as conn:
            query = select(seen_jti.c.jti, seen_jti.c.expires_at).where(seen_jti.c.expires_at > now)
            return [dict(row) for row in conn.execute(query).mappings()]
    except OperationalError:  # a database made before the table existed: nothing to carry over
        return []
