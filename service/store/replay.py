"""Replay protection: JWT ids already seen, claimed atomically so every replica refuses a replay."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, select

from .connection import StoreBase
from .schema import StoreUnavailable, UtcDateTime, dialect_insert, is_unavailable, seen_jti

# Waiting for SQLite's write lock in a claim: first pause and longest pause, in seconds.
CLAIM_RETRY_FIRST = 0.0001
CLAIM_RETRY_MAX = 0.002


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


def _busy_timeout_ms(cursor: Any) -> int:
    cursor.execute("PRAGMA busy_timeout")
    return int(cursor.fetchone()[0])


def _execute_sqlite_claim(cursor: Any, sql: str, params: Any, busy_timeout_ms: int) -> int:
    """Run the claim, waiting for SQLite's write lock in short steps rather than SQLite's own.

    The lock is held by other workers' claims and background writers, usually for well under a
    millisecond. SQLite's busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between tries, so a
    claim that finds the lock taken waits for the next step, often long after the lock was freed,
    while its request holds a client connection. Here the connection's busy timeout is 0 for the
    claim, and a busy statement (which changed nothing: it failed before starting its write) is
    retried after CLAIM_RETRY_FIRST seconds, doubling to CLAIM_RETRY_MAX, for as long as SQLite
    would have waited (the connection's busy timeout, `SQLITE_BUSY_TIMEOUT_MS`), which is restored
    before the connection goes back to the pool. Returns the statement's row count.
    """
    cursor.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + busy_timeout_ms / 1000
        pause = CLAIM_RETRY_FIRST
        while True:
            try:
                cursor.execute(sql, params)
                return int(cursor.rowcount)  # read before the PRAGMA below resets it
            except sqlite3.OperationalError as exc:
                busy = (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, CLAIM_RETRY_MAX)
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")


class ReplayStore(StoreBase):
    """The `seen_jti` table."""

    _claim_statement: _ClaimStatement | None = None
    _claim_statement_lock = threading.Lock()

    def claim_jti(self, jti: str, expires_at: datetime, *, now: datetime | None = None) -> bool:
        """Claim a JWT id until it expires; False when it is already claimed and still valid.

        One statement, atomic in both databases and therefore across processes and replicas:
        insert, or on conflict take over the row only if the stored claim has expired. Expired
        claims are removed by `purge_expired_jtis` (run periodically in the background). Raises
        `StoreUnavailable` when the database does not answer.

        This runs on every authenticated call, so it skips what SQLAlchemy's Connection adds per
        call (statement construction and cache lookup, events, the transaction object): the SQL is
        compiled by SQLAlchemy once per store and executed on a pooled DBAPI connection. In SQLite
        (autocommit at the driver level, see `configure_sqlite`) the single statement is its own
        transaction: the write lock is taken when it starts and released when it ends, inside one
        call into the driver, never held while this thread waits for the GIL between a BEGIN and
        a COMMIT, so the five workers' claims queue for the lock for as short a time as possible.
        A write statement starts as a write transaction, so the lock-upgrade SQLITE_BUSY that
        `BEGIN IMMEDIATE` prevents for read-then-write transactions cannot happen here.
        """
        now = (now or datetime.now(UTC)).astimezone(UTC)
        try:
            claim = self._claim_statement or self._build_claim_statement()
            params = claim.parameters({"jti": jti, "expires_at": expires_at, "now": now})
            self.ensure_schema()
            return self._execute_claim(claim.sql, params)
        except Exception as exc:
            if is_unavailable(exc) or self._dbapi_unavailable(exc):
                raise StoreUnavailable("database unreachable") from None
            raise

    def _build_claim_statement(self) -> _ClaimStatement:
        with self._claim_statement_lock:
            if self._claim_statement is None:
                self._claim_statement = _ClaimStatement.build(self.engine)
            return self._claim_statement

    def _execute_claim(self, sql: str, params: Any) -> bool:
        connection = self.engine.raw_connection()  # the pool: pre-ping, reset on return, as usual
        cursor = None
        try:
            cursor = connection.cursor()
            if self.dialect == "sqlite":
                busy_ms = connection.info.get("cds_busy_timeout_ms")
                if busy_ms is None:  # as `configure_sqlite` set it; read once per connection
                    busy_ms = connection.info["cds_busy_timeout_ms"] = _busy_timeout_ms(cursor)
                rows = _execute_sqlite_claim(cursor, sql, params, busy_ms)
            else:
                cursor.execute(sql, params)
                rows = cursor.rowcount
            claimed = rows == 1
            cursor.close()
            cursor = None
            connection.commit()  # PostgreSQL's transaction; SQLite's statement has committed
            return claimed
        except Exception as exc:
            dialect = self.engine.dialect
            dbapi = dialect.loaded_dbapi
            if isinstance(exc, dbapi.Error) and dialect.is_disconnect(
                exc, connection.dbapi_connection, cursor
            ):
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
        self.ensure_schema()
        with self.engine.begin() as conn:
            result = conn.execute(seen_jti.delete().where(seen_jti.c.expires_at <= now))
        return int(result.rowcount or 0)

    def seen_jti_count(self) -> int:
        """Number of recorded JWT ids (monitoring and tests)."""
        with self.engine.connect().execution_options(cds_readonly=True) as conn:
            return int(conn.execute(select(func.count()).select_from(seen_jti)).scalar_one())
