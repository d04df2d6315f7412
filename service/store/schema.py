"""The database schema (every table the service writes) and the helpers all store modules share.

The base of `service.store`: the other modules import from here and never from each other, so
there is no import cycle. `metadata` holds every table, `card_repeats` (owned by service/repeats.py)
included, so that the migrations (service/migrations/) and the background writer's spool see one
schema. Changing a table means adding an Alembic revision (see service/migrations/README).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.types import TypeDecorator

SCHEMA_VERSION = 2  # 2: report summaries (card_outcomes, report_days, ...) kept at write time
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Rows per INSERT statement: well under SQLite's 32766 and PostgreSQL's 65535 bound parameters.
INSERT_CHUNK = 500
# Key of the PostgreSQL advisory lock that serialises table creation between starting workers.
_PG_SCHEMA_LOCK = 0x5CD5_0001
# Seconds a new PostgreSQL connection may take: a black-holed database must cost a caller (the
# readiness probe, the background writer) this long at most, not the kernel's minutes.
PG_CONNECT_TIMEOUT = 2
# Pause between background attempts to reach the database for the schema, doubling up to the max.
SCHEMA_RETRY_FIRST = 0.5
SCHEMA_RETRY_MAX = 5.0

# Column sizes; schemas/feedback.schema.json bounds the same fields at or below these.
CARD_UUID_MAX = 200
RULE_ID_MAX = 200
SERVICE_ID_MAX = 200
CODE_MAX = 200
SYSTEM_MAX = 500
DISPLAY_MAX = 1000
COMMENT_MAX = 4000
JTI_MAX = 500


REPEAT_HASH_LENGTH = 64  # hex SHA-256 (service/repeats.py)


class UtcDateTime(TypeDecorator[datetime]):
    """A datetime stored as naive UTC and read back as aware UTC.

    SQLite has no time zones and PostgreSQL's ``timestamptz`` would render in the session's zone;
    naive UTC on disk sorts and compares the same way on both, and the conversion happens here once.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware (UTC) datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


_Row = TypeVar("_Row")

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UtcDateTime, nullable=False),
)

issued_cards = Table(
    "issued_cards",
    metadata,
    Column("uuid", String(CARD_UUID_MAX), primary_key=True),
    Column("rule_id", String(RULE_ID_MAX), nullable=False),
    Column("service_id", String(SERVICE_ID_MAX), nullable=False),
    Column("indicator", String(20), nullable=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Index("ix_issued_cards_issued_at", "issued_at"),
    # Covers the report's and /admin/analytics' windowed counts (no table lookups per card).
    Index("ix_issued_cards_window", "issued_at", "rule_id", "service_id"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_uuid", String(CARD_UUID_MAX), nullable=False),
    Column("service_id", String(SERVICE_ID_MAX), nullable=False),
    Column("rule_id", String(RULE_ID_MAX), nullable=True),  # None: card not issued by this store
    Column("outcome", String(20), nullable=False),
    Column("accepted_suggestions", Text, nullable=True),  # JSON list of suggestion ids
    Column("override_system", String(SYSTEM_MAX), nullable=True),
    Column("override_code", String(CODE_MAX), nullable=True),
    Column("override_display", String(DISPLAY_MAX), nullable=True),
    Column("user_comment", Text, nullable=True),
    Column("outcome_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("card_uuid", "outcome", "outcome_at", name="uq_feedback_card_outcome_time"),
    Index("ix_feedback_outcome_at", "outcome_at"),
    # Covers the report's windowed outcome and override-reason counts.
    Index(
        "ix_feedback_window",
        *("outcome_at", "outcome", "rule_id", "card_uuid", "service_id", "override_system", "override_code"),
    ),
)

# -- report summaries (service/store/summaries.py) ------------------------------------------------
# Kept in the same transaction as the issued_cards / feedback rows they summarise, so the report and
# /admin/analytics read a few hundred rows per period instead of counting every card. Days are UTC.

card_outcomes = Table(
    # One row per card uuid that has feedback: its FINAL item (latest outcome_at, ties by feedback
    # id), attributed like the report attributes it (rule of the item, else of the issued card;
    # service of the issued card, else of the item). rule_id None: the card is unknown here.
    "card_outcomes",
    metadata,
    Column("card_uuid", String(CARD_UUID_MAX), primary_key=True),
    Column("feedback_id", Integer, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("outcome_at", UtcDateTime, nullable=False),
    Column("rule_id", String(RULE_ID_MAX), nullable=True),
    Column("service_id", String(SERVICE_ID_MAX), nullable=False),
    Column("override_system", String(SYSTEM_MAX), nullable=True),
    Column("override_code", String(CODE_MAX), nullable=True),
    Column("override_display", String(DISPLAY_MAX), nullable=True),
    # Covers the exact count of a window's partial first day.
    Index("ix_card_outcomes_window", "outcome_at", "rule_id", "service_id", "outcome"),
)

report_days = Table(
    # Per UTC day, rule and service: cards issued that day, and cards whose final outcome (by its
    # outcome day) is accepted / overridden. Rows can fall back to 0 when a final outcome moves.
    "report_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("rule_id", String(RULE_ID_MAX), primary_key=True),
    Column("service_id", String(SERVICE_ID_MAX), primary_key=True),
    Column("issued", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("overridden", Integer, nullable=False),
)

reason_days = Table(
    # Per UTC day and rule: final overrides with a reason code, by (system, code, display).
    # reason_key is the SHA-256 of the three (which may be NULL, so they cannot be the key).
    "reason_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("rule_id", String(RULE_ID_MAX), primary_key=True),
    Column("reason_key", String(REPEAT_HASH_LENGTH), primary_key=True),
    Column("override_system", String(SYSTEM_MAX), nullable=True),
    Column("override_code", String(CODE_MAX), nullable=False),
    Column("override_display", String(DISPLAY_MAX), nullable=True),
    Column("cards", Integer, nullable=False),
)

unattributed_days = Table(
    # Per UTC day (of outcome_at): feedback items on cards this store has no record of.
    "unattributed_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("unattributed", Integer, nullable=False),
)

seen_jti = Table(
    "seen_jti",
    metadata,
    Column("jti", String(JTI_MAX), primary_key=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_seen_jti_expires_at", "expires_at"),
)


card_repeats = Table(
    # Never twice (service/repeats.py): which (patient, rule, drafts) identity each shown card had.
    "card_repeats",
    metadata,
    Column("uuid", String(CARD_UUID_MAX), primary_key=True),
    Column("rule_id", String(RULE_ID_MAX), nullable=False),
    Column("subject", String(REPEAT_HASH_LENGTH), nullable=False),  # HMAC(patient, rule, draft ids)
    Column("encounter", String(REPEAT_HASH_LENGTH), nullable=True),  # HMAC(patient, encounter id)
    Column("issued_at", UtcDateTime, nullable=False),
    Index("ix_card_repeats_subject", "subject"),
    Index("ix_card_repeats_issued_at", "issued_at"),
)


class StoreError(RuntimeError):
    """The database cannot be used by this version of the service."""


class StoreUnavailable(RuntimeError):
    """The database did not answer (down, unreachable, pool exhausted); worth retrying later.

    The message never carries the driver's text, which can hold the connection URL."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means "the database is not reachable now" rather than a bug or bad data."""
    if isinstance(
        exc, StoreUnavailable | OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError
    ):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def parse_timestamp(value: str | datetime) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset required) -> aware UTC datetime.

    Raises ValueError for anything else: a time without a zone is ambiguous, and feedback times
    are part of the uniqueness key, so guessing would make duplicates look distinct.
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        if not isinstance(value, str) or "T" not in value.upper():
            raise ValueError("not an RFC 3339 date-time")
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"date-time has no time zone: {value!r}")
    try:
        # 9999-12-31T23:59:59-14:00 and 0001-01-01T00:00:00+14:00 are valid RFC 3339 but fall
        # outside what a datetime (and the database) can hold once converted to UTC.
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"date-time is out of range once converted to UTC: {value!r}") from None


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def chunks(rows: Sequence[_Row], size: int = INSERT_CHUNK) -> Iterable[Sequence[_Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# Rows per multi-row INSERT on SQLite (`insert_ignore_rows`): 50 rows x a handful of columns stays
# far below SQLite's 32,766 bound parameters, and the statements come in at most 50 spellings.
VALUES_CHUNK = 50


def insert_ignore_rows(
    conn: Any, table: Table, rows: Sequence[Mapping[str, Any]], *, returning: str | None = None
) -> list[Any]:
    """INSERT ... ON CONFLICT DO NOTHING of `rows` (all with the same columns) in `conn`'s
    transaction: on SQLite as multi-row statements given straight to the driver, elsewhere as one
    executemany. With `returning` (a column name), the values of that column for the rows really
    inserted (RETURNING: a row that met a conflict returns nothing); otherwise an empty list.

    Why: the SQLite driver's executemany steps once per row and releases the GIL around each step.
    A background thread beside busy request threads then waits up to the interpreter's switch
    interval (5 ms) to take the GIL back, once per row: measured in one process at full load, the
    background writer wrote 2,114 of 24,000 rows and dropped the rest. One statement per 50 rows is
    a few waits per batch. SQLAlchemy's own multi-row VALUES cost five times the CPU (it compiles
    every call), so the statement text is built once per row count and the values go through each
    column type's own bind processor, as SQLAlchemy would send them.
    """
    ordered = list(rows)
    if not ordered:
        return []
    if conn.dialect.name != "sqlite":
        statement = dialect_insert(conn.dialect.name, table).on_conflict_do_nothing()
        if returning is None:
            conn.execute(statement, ordered)
            return []
        return list(conn.execute(statement.returning(table.c[returning]), ordered).scalars())
    columns = tuple(ordered[0])
    processors = _bind_processors(conn.dialect, table, columns)
    inserted: list[Any] = []
    for part in chunks(ordered, VALUES_CHUNK):
        values = tuple(
            process(row[name]) if process is not None else row[name]
            for row in part
            for name, process in zip(columns, processors, strict=True)
        )
        sql = _sqlite_insert_sql(conn.dialect, table, columns, len(part), returning)
        result = conn.exec_driver_sql(sql, values)
        if returning is not None:
            inserted.extend(result.scalars())  # a text column: what the driver gives is the value
    return inserted


@functools.lru_cache(maxsize=64)
def _bind_processors(dialect: Any, table: Table, columns: tuple[str, ...]) -> tuple[Any, ...]:
    # dialect_impl: the type as this dialect stores it (SQLite's DATETIME text format, for one).
    return tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns)


@functools.lru_cache(maxsize=512)
def _sqlite_insert_sql(
    dialect: Any, table: Table, columns: tuple[str, ...], count: int, returning: str | None = None
) -> str:
    quote = dialect.identifier_preparer.quote
    row = "(" + ", ".join("?" for _ in columns) + ")"
    tail = f" RETURNING {quote(returning)}" if returning is not None else ""
    return (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in columns)}) "
        f"VALUES {', '.join(row for _ in range(count))} ON CONFLICT DO NOTHING{tail}"
    )


def dialect_insert(dialect: str, table: Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (the generic one does not)."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
