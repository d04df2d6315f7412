"""Report summaries kept at write time, in the transaction that writes the rows they summarise.

Why: counting a 90-day window of 100,000 cards (with a window function over the feedback to find
each card's final outcome) took most of a second; the admin page must answer in well under 100 ms.
The summaries (tables in `schema`): `card_outcomes` (each card's final feedback item, attributed),
`report_days` (issued / accepted / overridden per UTC day, rule and service), `reason_days` (final
overrides per day, rule and reason) and `unattributed_days`. `report` answers a period from the
full days of these plus exact queries for the partial first day.

Exactness rests on three things:

* every write of `issued_cards` or `feedback` goes through `insert_issued_cards` /
  `insert_feedback_rows` here (record_cards, the background writer, store_feedback), which learn
  which rows were really new (insert-or-ignore keeps the first row of a uuid): feedback from
  RETURNING, cards by looking the uuids up under the summary lock;
* the summary changes are made in the same transaction as the rows, so a crash or a failed batch
  leaves both or neither;
* writers that touch the summaries are serialised: SQLite's BEGIN IMMEDIATE already does it; on
  PostgreSQL `lock_summaries` takes a transaction-level advisory lock before anything is read, so a
  card and feedback on it written at the same time by two processes cannot each miss the other.

The same rules as the exact SQL: a card's final outcome is its feedback item with the latest
outcome time, ties by the larger id; the rule is the item's (set when the card was known at the
time), else the issued card's; the service is the issued card's, else the item's.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Connection

from .schema import (
    INSERT_CHUNK,
    card_outcomes,
    chunks,
    dialect_insert,
    feedback,
    insert_ignore_rows,
    issued_cards,
    reason_days,
    report_days,
    unattributed_days,
)

# Key of the PostgreSQL advisory lock that serialises summary maintenance between writers.
_PG_SUMMARY_LOCK = 0x5CD5_0002
COUNTED_OUTCOMES = ("accepted", "overridden")
COUNTS = ("issued", *COUNTED_OUTCOMES)

DayKey = tuple[date, str, str]  # (day, rule_id, service_id)
ReasonKey = tuple[date, str, str]  # (day, rule_id, reason_key)


def reason_key(system: str | None, code: str, display: str | None) -> str:
    """A fixed-length key for (system, code, display), any of which may be long or NULL."""
    return hashlib.sha256(json.dumps([system, code, display]).encode()).hexdigest()


def lock_summaries(conn: Connection) -> None:
    """Serialise summary writers (PostgreSQL; SQLite write transactions are serial already).

    Must run before the transaction reads anything it bases a summary change on."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SUMMARY_LOCK})


class _Deltas:
    """Changes to the day tables, added up so that each key is written once per transaction."""

    def __init__(self) -> None:
        self.days: dict[DayKey, list[int]] = {}  # [issued, accepted, overridden]
        self.reasons: Counter[ReasonKey] = Counter()
        self.reason_values: dict[ReasonKey, tuple[str | None, str, str | None]] = {}
        self.unattributed: Counter[date] = Counter()

    def issued(self, row: Mapping[str, Any], sign: int = 1) -> None:
        key = (row["issued_at"].date(), row["rule_id"], row["service_id"])
        self.days.setdefault(key, [0, 0, 0])[0] += sign

    def outcome(self, final: Mapping[str, Any], sign: int) -> None:
        """Add (`sign` 1) or take back (-1) what one card's final outcome contributes."""
        rule_id, outcome = final["rule_id"], final["outcome"]
        if rule_id is None or outcome not in COUNTED_OUTCOMES:
            return
        day = final["outcome_at"].date()
        self.days.setdefault((day, rule_id, final["service_id"]), [0, 0, 0])[
            1 + COUNTED_OUTCOMES.index(outcome)
        ] += sign
        code = final["override_code"]
        if outcome == "overridden" and code is not None:
            system, display = final["override_system"], final["override_display"]
            key = (day, rule_id, reason_key(system, code, display))
            self.reasons[key] += sign
            self.reason_values[key] = (system, code, display)

    def write(self, conn: Connection) -> None:
        """Add the deltas with one upsert per table, executed for many rows: the statements are
        the same every time, so SQLAlchemy compiles each once per process."""
        day_rows = [
            {"day": d, "rule_id": r, "service_id": s, "issued": i, "accepted": a, "overridden": o}
            for (d, r, s), (i, a, o) in sorted(self.days.items())
            if (i, a, o) != (0, 0, 0)
        ]
        if day_rows:
            conn.execute(_upserts(conn.dialect.name)[report_days.name], day_rows)
        reason_rows = []
        for (d, r, k), n in sorted(self.reasons.items()):
            if n:
                system, code, display = self.reason_values[(d, r, k)]
                reason_rows.append(
                    {"day": d, "rule_id": r, "reason_key": k, "override_system": system,
                     "override_code": code, "override_display": display, "cards": n}
                )  # fmt: skip
        if reason_rows:
            conn.execute(_upserts(conn.dialect.name)[reason_days.name], reason_rows)
        lost = [{"day": d, "unattributed": n} for d, n in sorted(self.unattributed.items()) if n]
        if lost:
            conn.execute(_upserts(conn.dialect.name)[unattributed_days.name], lost)


@functools.cache
def _upserts(dialect: str) -> dict[str, Any]:
    """The upsert of each summary table: day counts add up, a card's final outcome is replaced."""
    statements: dict[str, Any] = {}
    for table, counts in (
        (report_days, COUNTS),
        (reason_days, ("cards",)),
        (unattributed_days, ("unattributed",)),
    ):
        statement = dialect_insert(dialect, table)
        statements[table.name] = statement.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={name: table.c[name] + statement.excluded[name] for name in counts},
        )
    statement = dialect_insert(dialect, card_outcomes)
    statements[card_outcomes.name] = statement.on_conflict_do_update(
        index_elements=[card_outcomes.c.card_uuid],
        set_={name: statement.excluded[name] for name in _OUTCOME_COLUMNS},
    )
    statements[feedback.name] = (
        dialect_insert(dialect, feedback)
        .on_conflict_do_nothing()
        .returning(feedback.c.id, feedback.c.card_uuid, feedback.c.outcome, feedback.c.outcome_at)
    )
    return statements


def _outcome_rows(conn: Connection, uuids: Sequence[str], *, unattributed_only: bool) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    query = _outcome_query(unattributed_only)
    for part in chunks(sorted(uuids)):
        found.extend(dict(row) for row in conn.execute(query, {"uuids": list(part)}).mappings())
    return found


@functools.cache
def _outcome_query(unattributed_only: bool) -> Any:
    """The final outcomes of a list of cards, one statement built once (each batch of issued
    cards asks it): SQLAlchemy then compiles it once, and only the list is expanded per call."""
    query = select(card_outcomes).where(card_outcomes.c.card_uuid.in_(bindparam("uuids", expanding=True)))
    if unattributed_only:
        query = query.where(card_outcomes.c.rule_id.is_(None))
    return query


def insert_issued_cards(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert-or-ignore `issued_cards` rows and update the summaries; returns how many were new.

    A uuid already recorded (or twice in `rows`) keeps its first row and counts once. Feedback that
    arrived before its card becomes attributed now: its final outcome is counted for the card's
    rule and service, and its items leave the unattributed count.
    """
    if not rows:
        return 0
    lock_summaries(conn)
    first: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        first.setdefault(row["uuid"], row)
    # RETURNING names the rows really inserted: a uuid already recorded, or the second of a pair
    # in `rows`, meets the conflict and returns nothing. (The batch's uuids are almost always new:
    # looking them up first cost a query per 500 uuids, built and rendered anew for each batch.)
    inserted = set(insert_ignore_rows(conn, issued_cards, list(first.values()), returning="uuid"))
    new = [row for uuid, row in first.items() if uuid in inserted]
    deltas = _Deltas()
    for row in new:
        deltas.issued(row)
    waiting = _outcome_rows(conn, [row["uuid"] for row in new], unattributed_only=True)
    if waiting:
        cards = {row["uuid"]: row for row in new}
        for final in waiting:
            card = cards[final["card_uuid"]]
            attributed = {**final, "rule_id": card["rule_id"], "service_id": card["service_id"]}
            conn.execute(
                card_outcomes.update()
                .where(card_outcomes.c.card_uuid == final["card_uuid"])
                .values(rule_id=card["rule_id"], service_id=card["service_id"])
            )
            deltas.outcome(attributed, 1)
        for part in chunks(sorted(row["card_uuid"] for row in waiting)):
            items = select(feedback.c.outcome_at).where(
                feedback.c.card_uuid.in_(part), feedback.c.rule_id.is_(None)
            )
            for (outcome_at,) in conn.execute(items):
                deltas.unattributed[outcome_at.date()] -= 1
    deltas.write(conn)
    return len(new)


def insert_feedback_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert feedback rows (repeats ignored), attribute them, update the summaries; returns how
    many were new. Sets each row's ``rule_id`` from the issued card when the card is known."""
    if not rows:
        return 0
    lock_summaries(conn)
    dialect = conn.dialect.name
    cards = _issued(conn, {row["card_uuid"] for row in rows})
    for row in rows:
        row["rule_id"] = cards[row["card_uuid"]][0] if row["card_uuid"] in cards else None
    # RETURNING tells which rows were new (psycopg reports rowcount -1 for this statement); many
    # rows in one execution (SQLAlchemy's "insertmanyvalues"), a repeat within `rows` skipped.
    by_key: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for row in rows:  # a repeat within the batch: the first one is the one inserted
        by_key.setdefault((row["card_uuid"], row["outcome"], row["outcome_at"]), row)
    new: list[dict[str, Any]] = []
    for inserted in conn.execute(_upserts(dialect)[feedback.name], list(by_key.values())).mappings():
        row = by_key[(inserted["card_uuid"], inserted["outcome"], inserted["outcome_at"])]
        new.append({**row, "id": inserted["id"]})
    deltas = _Deltas()
    latest: dict[str, dict[str, Any]] = {}
    for row in new:
        if row["rule_id"] is None:
            deltas.unattributed[row["outcome_at"].date()] += 1
        best = latest.get(row["card_uuid"])
        if best is None or (row["outcome_at"], row["id"]) > (best["outcome_at"], best["id"]):
            latest[row["card_uuid"]] = row
    current = {row["card_uuid"]: row for row in _outcome_rows(conn, list(latest), unattributed_only=False)}
    changed = []
    for uuid, row in latest.items():
        old = current.get(uuid)
        if old is not None and (old["outcome_at"], old["feedback_id"]) >= (row["outcome_at"], row["id"]):
            continue  # an earlier (or equal) item arrived late: the final outcome stands
        card = cards.get(uuid)
        final = {
            "card_uuid": uuid,
            "feedback_id": row["id"],
            "outcome": row["outcome"],
            "outcome_at": row["outcome_at"],
            "rule_id": row["rule_id"],
            "service_id": card[1] if card is not None else row["service_id"],
            "override_system": row["override_system"],
            "override_code": row["override_code"],
            "override_display": row["override_display"],
        }
        if old is not None:
            deltas.outcome(old, -1)
        deltas.outcome(final, 1)
        changed.append(final)
    if changed:
        conn.execute(_upserts(dialect)[card_outcomes.name], changed)
    deltas.write(conn)
    return len(new)


_OUTCOME_COLUMNS = tuple(c.name for c in card_outcomes.columns if c.name != "card_uuid")


def _issued(conn: Connection, uuids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """uuid -> (rule_id, service_id) of the recorded cards among `uuids`."""
    found: dict[str, tuple[str, str]] = {}
    ordered = sorted(uuids)
    for start in range(0, len(ordered), INSERT_CHUNK):
        part = ordered[start : start + INSERT_CHUNK]
        query = select(issued_cards.c.uuid, issued_cards.c.rule_id, issued_cards.c.service_id).where(
            issued_cards.c.uuid.in_(part)
        )
        found.update({uuid: (rule_id, service_id) for uuid, rule_id, service_id in conn.execute(query)})
    return found


def as_date(value: Any) -> date:
    """A day read back from the database (SQLite returns text from date())."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value))
