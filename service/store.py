"""Persistence: the cards the service issued, the feedback clients send, and JWT ids already seen.

Why a database at all: feedback must never be lost, feedback must be attributable to the rule that
produced the card (so alert fatigue can be measured per rule), and a replayed JWT must be refused by
every replica of the service, not only by the process that saw it first.

Two back ends are supported through SQLAlchemy Core:

* SQLite (the embedded default): WAL mode so readers never block the writer, a busy timeout so
  concurrent writers (threads, gunicorn workers) wait instead of failing, and every write
  transaction opened with ``BEGIN IMMEDIATE`` so a transaction that reads before it writes cannot
  hit ``SQLITE_BUSY`` on lock upgrade (a busy timeout does not cover that case).
* PostgreSQL (``postgresql+psycopg://``): pooled connections checked before use.

No patient identifier is ever stored: an issued card is recorded by its uuid, rule, service,
indicator and time only. All times are stored as naive UTC and returned as aware UTC datetimes.

The service must keep answering while the database is away (alerts never depend on it):

* `Store(url, retry_in_background=True)` never fails because the database is unreachable: the
  schema is created on the first attempt that reaches it, retried by a daemon thread with a growing
  pause (and by `ping()` and every background write). Only a schema *newer* than this code fails.
* Issued cards are written off the request path by `service.writer.BackgroundWriter`, which uses
  `issued_card_rows()` and `insert_ignore()` from here; `record_cards()` remains the synchronous
  form (tools, tests, the writer's equivalent).
* Operations a caller must know failed for lack of a database raise `StoreUnavailable` (feedback
  answers 503 with Retry-After; the JWT check falls back to a per-process replay cache).
* Expired JWT ids are purged by `purge_expired_jtis()`, which the writer thread runs periodically,
  not on every claim.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SQLITE_BUSY_TIMEOUT_MS = 30_000
TOP_OVERRIDE_REASONS = 5
# Rows per INSERT statement: well under SQLite's 32766 and PostgreSQL's 65535 bound parameters.
_INSERT_CHUNK = 500
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
)

seen_jti = Table(
    "seen_jti",
    metadata,
    Column("jti", String(JTI_MAX), primary_key=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_seen_jti_expires_at", "expires_at"),
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


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _chunks(rows: Sequence[dict[str, Any]], size: int = _INSERT_CHUNK) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


class Store:
    """Issued cards, feedback and seen JWT ids in one SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, retry_in_background: bool = False) -> None:
        """Connect and create the tables if needed (safe when several workers start at once).

        With `retry_in_background`, an unreachable database is not an error: the schema is made by
        a daemon thread as soon as the database answers (a service worker must boot without it).
        A schema newer than this code still raises `StoreError` when it is seen.
        """
        self.url = url
        self.engine = _make_engine(url)
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
        _dispose_pool_after_fork(self.engine)

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every pooled connection (tests, and a clean shutdown)."""
        self._closed = True
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

    def insert_ignore(self, table: Table) -> Any:
        """`INSERT INTO table ... ON CONFLICT DO NOTHING` for this database: built once by the caller
        and executed with many rows (the background writer reuses it for every batch)."""
        return _insert(self.dialect, table).on_conflict_do_nothing()

    def _create_schema(self) -> None:
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # CREATE TABLE is not idempotent under a race; two workers starting together would
                # both see no table. The transaction-level lock makes the second one wait.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
            metadata.create_all(conn)
            stored = conn.execute(select(func.max(schema_version.c.version))).scalar()
            if stored is None:
                conn.execute(
                    _insert(self.dialect, schema_version)
                    .values(version=SCHEMA_VERSION, applied_at=datetime.now(UTC))
                    .on_conflict_do_nothing()
                )
            elif stored > SCHEMA_VERSION:
                raise StoreError(
                    f"database schema version {stored} is newer than this service understands "
                    f"({SCHEMA_VERSION}); upgrade the service"
                )

    # -- issued cards ------------------------------------------------------------------------------

    def record_cards(
        self, service_id: str, cards: Sequence[Mapping[str, Any]], issued_at: datetime, **extra: Any
    ) -> None:
        """Remember which rule issued each card, so later feedback on its uuid can be attributed.

        Synchronous; the service itself queues the same rows on `service.writer.BackgroundWriter`
        (`writer.record_cards`, same arguments). See `issued_card_rows` for what is recorded.
        """
        rows = issued_card_rows(service_id, cards, issued_at, **extra)
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(self.insert_ignore(issued_cards), rows)

    # -- feedback ----------------------------------------------------------------------------------

    def store_feedback(
        self, service_id: str, items: Sequence[Mapping[str, Any]], received_at: datetime
    ) -> int:
        """Store CDS Hooks feedback items (wire shape, already schema-valid); return how many were new.

        A repeated item (same card, outcome and outcome time) is stored once: clients retry, and
        the spec says items may repeat. The rule id comes from the issued card when known.
        """
        if not items:
            return 0
        rows = [_feedback_row(service_id, item, received_at) for item in items]
        try:
            self.ensure_schema()
            return self._insert_feedback(rows)
        except Exception as exc:
            if is_unavailable(exc):
                raise StoreUnavailable("database unreachable") from None
            raise

    def _insert_feedback(self, rows: list[dict[str, Any]]) -> int:
        inserted = 0
        with self.engine.begin() as conn:
            rules = self._rule_ids(conn, {row["card_uuid"] for row in rows})
            for row in rows:
                row["rule_id"] = rules.get(row["card_uuid"])
            for chunk in _chunks(rows):
                # Count the RETURNING rows: psycopg reports rowcount -1 for this statement.
                statement = (
                    _insert(self.dialect, feedback)
                    .values(list(chunk))
                    .on_conflict_do_nothing()
                    .returning(feedback.c.id)
                )
                inserted += len(conn.execute(statement).all())
        return inserted

    @staticmethod
    def _rule_ids(conn: Connection, card_uuids: set[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        ordered = sorted(card_uuids)
        for start in range(0, len(ordered), _INSERT_CHUNK):
            part = ordered[start : start + _INSERT_CHUNK]
            query = select(issued_cards.c.uuid, issued_cards.c.rule_id).where(issued_cards.c.uuid.in_(part))
            found.update({uuid: rule_id for uuid, rule_id in conn.execute(query)})
        return found

    def feedback_count(self) -> int:
        """Number of stored feedback items (monitoring and tests)."""
        with self.engine.connect().execution_options(cds_readonly=True) as conn:
            return int(conn.execute(select(func.count()).select_from(feedback)).scalar_one())

    def feedback_items(self) -> list[dict[str, Any]]:
        """Every stored feedback item, oldest first, with times as aware UTC datetimes."""
        with self.engine.connect().execution_options(cds_readonly=True) as conn:
            rows = conn.execute(select(feedback).order_by(feedback.c.id)).mappings().all()
        items = []
        for row in rows:
            item = dict(row)
            raw = item.pop("accepted_suggestions")
            item["accepted_suggestions"] = json.loads(raw) if raw else []
            items.append(item)
        return items

    # -- JWT ids -----------------------------------------------------------------------------------

    def claim_jti(self, jti: str, expires_at: datetime, *, now: datetime | None = None) -> bool:
        """Claim a JWT id until it expires; False when it is already claimed and still valid.

        One statement, atomic in both databases and therefore across processes and replicas:
        insert, or on conflict take over the row only if the stored claim has expired. Expired
        claims are removed by `purge_expired_jtis` (run periodically in the background). Raises
        `StoreUnavailable` when the database does not answer.
        """
        now = (now or datetime.now(UTC)).astimezone(UTC)
        table = seen_jti
        statement = _insert(self.dialect, table).values(jti=jti, expires_at=expires_at)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.jti],
            set_={"expires_at": statement.excluded.expires_at},
            where=table.c.expires_at <= now,
        ).returning(table.c.jti)
        try:
            self.ensure_schema()
            with self.engine.begin() as conn:
                return conn.execute(statement).first() is not None
        except Exception as exc:
            if is_unavailable(exc):
                raise StoreUnavailable("database unreachable") from None
            raise

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

    def issued_card_count(self) -> int:
        """Number of recorded issued cards (monitoring and tests)."""
        with self.engine.connect().execution_options(cds_readonly=True) as conn:
            return int(conn.execute(select(func.count()).select_from(issued_cards)).scalar_one())

    # -- report ------------------------------------------------------------------------------------

    def report(self, since: datetime | None = None, *, now: datetime | None = None) -> dict[str, Any]:
        """Per-rule counts for alert-fatigue analysis.

        ``issued`` counts cards issued since `since`; ``accepted`` / ``overridden`` count distinct
        cards with that outcome since `since` (by outcome time), so a card whose two suggestions
        were both taken counts once. ``acceptance_rate`` is accepted / issued (None when nothing
        was issued in the window): ignored cards produce no feedback, so they lower the rate, which
        is the point. A rule with feedback but no issued cards in the window still appears.
        Feedback whose card this service never recorded is counted in ``unattributed_feedback``.
        """
        generated_at = (now or datetime.now(UTC)).astimezone(UTC)
        rules: dict[str, dict[str, Any]] = {}

        def entry(rule_id: str) -> dict[str, Any]:
            blank = {"issued": 0, "accepted": 0, "overridden": 0, "acceptance_rate": None}
            return rules.setdefault(rule_id, {**blank, "top_override_reasons": []})

        rule = func.coalesce(feedback.c.rule_id, issued_cards.c.rule_id).label("rule_id")
        joined = feedback.outerjoin(issued_cards, issued_cards.c.uuid == feedback.c.card_uuid)
        issued_q = select(issued_cards.c.rule_id, func.count()).group_by(issued_cards.c.rule_id)
        outcome_q = (
            select(rule, feedback.c.outcome, func.count(func.distinct(feedback.c.card_uuid)))
            .select_from(joined)
            .group_by(rule, feedback.c.outcome)
        )
        reasons_q = (
            select(
                rule,
                feedback.c.override_system,
                feedback.c.override_code,
                func.max(feedback.c.override_display),
                func.count(),
            )
            .select_from(joined)
            .where(feedback.c.outcome == "overridden", feedback.c.override_code.is_not(None))
            .group_by(rule, feedback.c.override_system, feedback.c.override_code)
        )
        unattributed_q = select(func.count()).select_from(joined).where(rule.is_(None))
        if since is not None:
            issued_q = issued_q.where(issued_cards.c.issued_at >= since)
            outcome_q = outcome_q.where(feedback.c.outcome_at >= since)
            reasons_q = reasons_q.where(feedback.c.outcome_at >= since)
            unattributed_q = unattributed_q.where(feedback.c.outcome_at >= since)

        with self.engine.connect().execution_options(cds_readonly=True) as conn:
            for rule_id, count in conn.execute(issued_q):
                entry(rule_id)["issued"] = int(count)
            for rule_id, outcome, count in conn.execute(outcome_q):
                if rule_id is not None and outcome in {"accepted", "overridden"}:
                    entry(rule_id)[outcome] = int(count)
            reasons: dict[str, list[dict[str, Any]]] = {}
            for rule_id, system, code, display, count in conn.execute(reasons_q):
                if rule_id is not None:
                    reasons.setdefault(rule_id, []).append(
                        {"code": code, "system": system, "display": display, "count": int(count)}
                    )
            unattributed = int(conn.execute(unattributed_q).scalar_one())

        for rule_id, counts in rules.items():
            if counts["issued"]:
                counts["acceptance_rate"] = counts["accepted"] / counts["issued"]
            ranked = sorted(
                reasons.get(rule_id, []), key=lambda r: (-r["count"], r["code"], r["system"] or "")
            )
            counts["top_override_reasons"] = ranked[:TOP_OVERRIDE_REASONS]

        return {
            "since": _iso(since),
            "generated_at": _iso(generated_at),
            "rules": {rule_id: rules[rule_id] for rule_id in sorted(rules)},
            "unattributed_feedback": unattributed,
        }


# -- helpers ---------------------------------------------------------------------------------------


def issued_card_rows(
    service_id: str, cards: Sequence[Mapping[str, Any]], issued_at: datetime, **extra: Any
) -> list[dict[str, Any]]:
    """The `issued_cards` rows for cards returned by `service_id` at `issued_at`.

    Cards without a uuid or without ``source.topic.code`` cannot receive attributable feedback
    and are skipped. A uuid recorded twice keeps its first record (insert-or-ignore). `extra`
    columns are added to every row, for columns other features add to the table.
    """
    rows = []
    for card in cards:
        uuid = card.get("uuid")
        rule_id = _rule_id_of(card)
        if not isinstance(uuid, str) or not uuid or rule_id is None:
            continue
        indicator = card.get("indicator")
        rows.append(
            {
                "uuid": uuid,
                "rule_id": rule_id,
                "service_id": service_id,
                "indicator": indicator if isinstance(indicator, str) else None,
                "issued_at": issued_at,
                **extra,
            }
        )
    return rows


def _rule_id_of(card: Mapping[str, Any]) -> str | None:
    source = card.get("source")
    topic = source.get("topic") if isinstance(source, Mapping) else None
    code = topic.get("code") if isinstance(topic, Mapping) else None
    return code if isinstance(code, str) and code else None


def _feedback_row(service_id: str, item: Mapping[str, Any], received_at: datetime) -> dict[str, Any]:
    accepted = item.get("acceptedSuggestions") or []
    suggestion_ids = [s["id"] for s in accepted if isinstance(s, Mapping) and isinstance(s.get("id"), str)]
    override = item.get("overrideReason") or {}
    reason = override.get("reason") or {}
    return {
        "card_uuid": item["card"],
        "service_id": service_id,
        "outcome": item["outcome"],
        "accepted_suggestions": json.dumps(suggestion_ids) if suggestion_ids else None,
        "override_system": reason.get("system"),
        "override_code": reason.get("code"),
        "override_display": reason.get("display"),
        "user_comment": override.get("userComment"),
        "outcome_at": parse_timestamp(item["outcomeTimestamp"]),
        "received_at": received_at,
    }


def _insert(dialect: str, table: Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (the generic one does not)."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _make_engine(url: str) -> Engine:
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
        _configure_sqlite(engine)
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


def _configure_sqlite(engine: Engine) -> None:
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


def _dispose_pool_after_fork(engine: Engine) -> None:
    """A forked child (gunicorn --preload) must not share the parent's pooled sockets."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(engine)

    def _after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=_after_fork)
