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
  `issued_card_rows()` and `insert_rows()` (issued cards with their report summaries, other tables
  through `insert_ignore_rows()`, in the writer's transaction) from here; `record_cards()` remains
  the synchronous form (tools, tests, the writer's equivalent).
* Operations a caller must know failed for lack of a database raise `StoreUnavailable` (feedback
  answers 503 with Retry-After; the JWT check falls back to a per-process replay cache).
* Expired JWT ids are purged by `purge_expired_jtis()`, which the writer thread runs periodically,
  not on every claim.

Layout (each module one concern; `schema` is the base the others import, so there is no cycle):

* `schema`: tables, column types, size limits, errors, shared helpers (`parse_timestamp`,
  `dialect_insert`; `rule_id_of` is re-exported from service/cardkeys.py);
* `connection`: the engine for SQLite / PostgreSQL and `StoreBase`;
* `cards`, `feedback`, `replay`, `report`: one table or query family each;
* `summaries`: the report summaries, written with the rows they summarise (cards and feedback go
  through `insert_issued_cards` / `insert_feedback_rows`, the background writer through
  `Store.insert_rows`), which `report` reads;
* `core`: `Store`, which joins them and owns the schema's life cycle (migrations).
"""

from __future__ import annotations

from ..cardkeys import rule_id_of
from .cards import CardsStore, issued_card_rows
from .connection import PG_CONNECT_TIMEOUT, StoreBase, make_engine
from .core import SCHEMA_RETRY_FIRST, SCHEMA_RETRY_MAX, Store
from .feedback import FeedbackStore, feedback_row
from .replay import ReplayStore
from .report import REPORT_COUNTING, TOP_OVERRIDE_REASONS, ReportStore
from .schema import (
    CARD_UUID_MAX,
    CODE_MAX,
    COMMENT_MAX,
    DISPLAY_MAX,
    JTI_MAX,
    REPEAT_HASH_LENGTH,
    RULE_ID_MAX,
    SCHEMA_VERSION,
    SERVICE_ID_MAX,
    SQLITE_BUSY_TIMEOUT_MS,
    SYSTEM_MAX,
    StoreError,
    StoreUnavailable,
    UtcDateTime,
    card_outcomes,
    card_repeats,
    dialect_insert,
    feedback,
    insert_ignore_rows,
    is_unavailable,
    issued_cards,
    metadata,
    parse_timestamp,
    reason_days,
    report_days,
    schema_version,
    seen_jti,
    unattributed_days,
)

__all__ = [
    "CARD_UUID_MAX",
    "CODE_MAX",
    "COMMENT_MAX",
    "DISPLAY_MAX",
    "JTI_MAX",
    "PG_CONNECT_TIMEOUT",
    "REPORT_COUNTING",
    "RULE_ID_MAX",
    "SCHEMA_RETRY_FIRST",
    "SCHEMA_RETRY_MAX",
    "REPEAT_HASH_LENGTH",
    "SCHEMA_VERSION",
    "SERVICE_ID_MAX",
    "SQLITE_BUSY_TIMEOUT_MS",
    "SYSTEM_MAX",
    "TOP_OVERRIDE_REASONS",
    "CardsStore",
    "FeedbackStore",
    "ReplayStore",
    "ReportStore",
    "Store",
    "StoreBase",
    "StoreError",
    "StoreUnavailable",
    "UtcDateTime",
    "card_outcomes",
    "card_repeats",
    "dialect_insert",
    "insert_ignore_rows",
    "feedback",
    "feedback_row",
    "is_unavailable",
    "issued_card_rows",
    "issued_cards",
    "make_engine",
    "metadata",
    "parse_timestamp",
    "reason_days",
    "report_days",
    "rule_id_of",
    "schema_version",
    "seen_jti",
    "unattributed_days",
]
