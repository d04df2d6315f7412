"""Never twice: a card the clinician overrode is held back when the same order comes round again.

A clinician who overrides a card on `order-select` should not meet the same card again on
`order-sign` (or on a repeated `order-select`) for the same draft order of the same patient. The
override arrives as CDS Hooks feedback on the card's uuid; this module remembers, for every card it
lets through, which (patient, rule, draft orders) it was about and, if given, which encounter, and
on the next call holds back a card whose last feedback for that identity was `overridden`:

* within the same encounter (the hook's `context.encounterId`), or
* without an encounter, for `CDS_REPEAT_WINDOW_HOURS` (default 12) after the override was received.

What is never held back: a critical card, a card for a draft without a stable id, any card when
the store does not answer within `CDS_REPEAT_TIMEOUT` seconds (an outage must never silence a card).

No patient identifier is stored. The identity is an HMAC-SHA256 of patient id, rule id and draft
order ids under a secret (`CDS_REPEAT_SECRET`); the encounter likewise. Without a configured secret
an embedded (SQLite) install generates one per install in its data directory (`repeat-secret`,
mode 0600); a shared database (PostgreSQL, several replicas) requires `CDS_REPEAT_SECRET` so all
replicas compute the same keys, and without it suppression is off (logged at start-up).

The table lives in the service's database (so every replica sees the same overrides) and is
declared with the others in service/store/schema.py (so the migrations create it): `card_repeats`
(card uuid, rule id, identity hash, encounter hash, issued at). The override itself is read from the
store's `feedback` table, joined on the card uuid. Rows are written by the service's one background
writer (service/writer.py), off the hook's path, in its ordinary batches.

Reading: each worker keeps an index of the feedback given on remembered cards (`OverrideIndex`:
identity -> outcomes; overrides are rare, so it is small) and answers the hook from it. It asks the
store whether feedback arrived (the newest feedback id: one index look-up) at most every
`CDS_REPEAT_FRESHNESS` seconds (default 0.2) and reads only the new rows; feedback posted to this
worker refreshes it at once. So an override made through another worker or replica holds its card
back within that time, the hook pays no database round trip on most calls, and the cost of a call
does not grow with the number of times the same order was shown (the old per-call join did). A
check that fails or outlasts `CDS_REPEAT_TIMEOUT` shows every card (degraded), as before.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import monotonic
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from .cardkeys import rule_id_of
from .config import Config
from .engine import Finding
from .store import REPEAT_HASH_LENGTH, card_repeats, feedback, insert_ignore_rows

log = logging.getLogger(__name__)

SECRET_FILE = "repeat-secret"
EXTENSION = "cds-repeats"  # the guard's key in `app.extensions`
HASH_LENGTH = REPEAT_HASH_LENGTH  # hex SHA-256
# Rows older than this are deleted by the writer thread: an encounter longer than this shows its
# card again.
RETENTION = timedelta(days=14)
PURGE_SECONDS = 600.0


class RepeatConfigError(ValueError):
    """Repeat suppression is configured in a way that cannot work."""


@dataclass
class Screened:
    """The findings to show and the ones held back, with the identity of each shown finding."""

    shown: list[Finding]
    held: list[Finding] = field(default_factory=list)
    subjects: list[str | None] = field(default_factory=list)  # parallel to `shown`
    encounter: str | None = None
    degraded: bool = False  # the store did not answer: nothing was held back

    def held_rules(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.held:
            counts[finding.rule["id"]] = counts.get(finding.rule["id"], 0) + 1
        return counts


def resolve_secret(config: Config) -> bytes | None:
    """The HMAC key: configured, else (embedded SQLite only) generated once per install; else None."""
    if config.repeat_secret:
        if len(config.repeat_secret) < 16:
            raise RepeatConfigError("CDS_REPEAT_SECRET: use at least 16 characters (32 random bytes advised)")
        return config.repeat_secret.encode()
    if not config.effective_database_url.startswith("sqlite"):
        return None
    path = Path(config.data_dir).expanduser().resolve() / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: workers starting together agree on the first secret written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if len(value) < 32:  # a worker is still writing it
            threading.Event().wait(0.05)
            value = path.read_text().strip()
        return value.encode()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip().encode()


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One feedback item on a remembered card, as the index keeps it."""

    encounter: str | None
    outcome_at: datetime
    ident: int
    outcome: str
    received_at: datetime
    issued_at: datetime


# Feedback ids re-read on every refresh below the newest one read: PostgreSQL hands out ids at insert
# and commits in any order, so a row with a lower id can become visible after a higher one.
ID_OVERLAP = 256
# After the newest id changed, refresh on every check for this long (rows committed late, above).
SETTLE_SECONDS = 2.0
# Feedback whose card row is not written yet (the card was issued by another worker moments ago, or
# had no identity: a critical card) is looked for again for this long, then forgotten.
PENDING_SECONDS = 60.0


class OverrideIndex:
    """What this worker knows of the feedback on remembered cards: identity -> outcomes.

    Refreshed incrementally from the store (`refresh`): feedback rows above the newest id already
    read, joined to their card's identity. Rows whose card identity is not written yet wait in
    `pending` and are looked up again on the next refreshes. Thread-safe: refreshes are serialised,
    and readers see a whole refresh or none of it.
    """

    def __init__(self) -> None:
        self._by_subject: dict[str, dict[int, _Outcome]] = {}
        self._pending: dict[str, list[tuple[int, str, datetime, datetime]]] = {}
        self._read_up_to = 0  # the newest feedback id read
        self._newest_seen: int | None = None
        self._changed_at = float("-inf")
        self.loaded = False
        self.checked_at = float("-inf")  # monotonic time of the last successful check
        self._refresh_lock = threading.Lock()
        self._lock = threading.Lock()

    def overridden(self, subjects: set[str], encounter: str | None, since: datetime) -> set[str]:
        """The subjects whose last feedback (by outcome time, then arrival) in scope is an override;
        in scope: the same encounter when there is one, else received since `since`."""
        found: set[str] = set()
        with self._lock:
            for subject in subjects:
                outcomes = self._by_subject.get(subject)
                if not outcomes:
                    continue
                scoped = [
                    o
                    for o in outcomes.values()
                    if (o.encounter == encounter if encounter is not None else o.received_at >= since)
                ]
                if scoped and max(scoped, key=lambda o: (o.outcome_at, o.ident)).outcome == "overridden":
                    found.add(subject)
        return found

    def refresh(self, conn: Any, now: datetime, retention: timedelta) -> None:
        """Read what changed in the store since the last refresh (`conn`: a read-only connection)."""
        with self._refresh_lock:
            newest = int(conn.execute(select(func.max(feedback.c.id))).scalar() or 0)
            clock = monotonic()
            if newest != self._newest_seen:
                self._newest_seen, self._changed_at = newest, clock
            settling = clock - self._changed_at < SETTLE_SECONDS
            if self.loaded and newest <= self._read_up_to and not settling and not self._pending:
                self.checked_at = clock
                return
            rows = self._new_rows(conn, now, retention)
            identities = self._pending_identities(conn)
            self._apply(rows, identities, now, retention)
            self.loaded = True
            self.checked_at = clock

    def _new_rows(self, conn: Any, now: datetime, retention: timedelta) -> list[Any]:
        query = (
            select(
                feedback.c.id,
                feedback.c.card_uuid,
                feedback.c.outcome,
                feedback.c.outcome_at,
                feedback.c.received_at,
                card_repeats.c.subject,
                card_repeats.c.encounter,
                card_repeats.c.issued_at,
            )
            .select_from(feedback.outerjoin(card_repeats, card_repeats.c.uuid == feedback.c.card_uuid))
            .where(feedback.c.id > max(self._read_up_to - ID_OVERLAP, 0))
        )
        if not self.loaded:  # the first read: only what the retention keeps
            query = query.where(feedback.c.received_at >= now - retention)
        return list(conn.execute(query))

    def _pending_identities(self, conn: Any) -> dict[str, tuple[str, str | None, datetime]]:
        if not self._pending:
            return {}
        query = select(
            card_repeats.c.uuid, card_repeats.c.subject, card_repeats.c.encounter, card_repeats.c.issued_at
        ).where(card_repeats.c.uuid.in_(sorted(self._pending)))
        return {uuid: (subject, enc, issued) for uuid, subject, enc, issued in conn.execute(query)}

    def _apply(
        self,
        rows: list[Any],
        identities: dict[str, tuple[str, str | None, datetime]],
        now: datetime,
        retention: timedelta,
    ) -> None:
        by_subject = {subject: dict(outcomes) for subject, outcomes in self._by_subject.items()}
        pending = {uuid: list(items) for uuid, items in self._pending.items()}
        for uuid, (subject, encounter, issued_at) in identities.items():
            for ident, outcome, outcome_at, received_at in pending.pop(uuid, []):
                item = _Outcome(encounter, outcome_at, ident, outcome, received_at, issued_at)
                by_subject.setdefault(subject, {})[ident] = item
        known = {ident for outcomes in by_subject.values() for ident in outcomes}
        for ident, uuid, outcome, outcome_at, received_at, subject, encounter, issued_at in rows:
            self._read_up_to = max(self._read_up_to, int(ident))
            if ident in known:
                continue
            if subject is None:
                waiting = pending.setdefault(uuid, [])
                if all(i != ident for i, *_ in waiting):
                    waiting.append((int(ident), outcome, outcome_at, received_at))
                continue
            item = _Outcome(encounter, outcome_at, int(ident), outcome, received_at, issued_at)
            by_subject.setdefault(subject, {})[int(ident)] = item
        # Forget what the store forgets: card identities past the retention, stale pending feedback.
        oldest_card, oldest_pending = now - retention, now - timedelta(seconds=PENDING_SECONDS)
        by_subject = {
            subject: kept
            for subject, outcomes in by_subject.items()
            if (kept := {i: o for i, o in outcomes.items() if o.issued_at >= oldest_card})
        }
        pending = {
            uuid: recent
            for uuid, items in pending.items()
            if (recent := [item for item in items if item[3] >= oldest_pending])
        }
        with self._lock:
            self._by_subject, self._pending = by_subject, pending


class RepeatGuard:
    """Holds back overridden cards; remembers the identity of each card it lets through."""

    def __init__(
        self,
        engine: Engine,
        secret: bytes,
        *,
        window: timedelta,
        timeout: float,
        writer: Any = None,
        freshness: float = 0.2,
    ) -> None:
        """`writer`: the service's `service.writer.BackgroundWriter` (rows are queued there, and it
        purges old rows); None writes synchronously (tools, tests). `freshness`: seconds the index
        may be answered from before the store is asked again (0: every call)."""
        self.engine = engine
        self.dialect = engine.dialect.name
        self._secret = secret
        self.window = window
        self.timeout = timeout
        self.freshness = freshness
        self.writer = writer
        self.index = OverrideIndex()
        self._executor: ThreadPoolExecutor | None = None  # bounded reads only
        self._check: Future[None] | None = None  # the store check under way, if any
        self._pid = os.getpid()
        self._lock = threading.Lock()
        if writer is None:
            self._create_schema()
        else:  # the store makes the table with the rest of the schema, when the database answers
            writer.every(PURGE_SECONDS, self.purge)

    @classmethod
    def from_config(cls, config: Config, engine: Engine, writer: Any = None) -> RepeatGuard | None:
        """The guard the configuration asks for, or None when suppression is off (or cannot work)."""
        if config.repeat_suppression.strip().lower() in {"off", "0", "false", "no"}:
            return None
        secret = resolve_secret(config)
        if secret is None:
            log.warning(
                "repeat suppression is off: a shared database needs CDS_REPEAT_SECRET "
                "(the same value on every replica)"
            )
            return None
        window = timedelta(hours=config.repeat_window_hours)
        return cls(
            engine,
            secret,
            window=window,
            timeout=config.repeat_timeout,
            writer=writer,
            freshness=config.repeat_freshness,
        )

    # -- identities --------------------------------------------------------------------------------

    def _hash(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def subject(self, finding: Finding, patient_id: str | None) -> str | None:
        """HMAC of patient, rule and draft order ids; None when a draft has no stable id."""
        if not patient_id:
            return None
        ids = []
        for drug in finding.orders:
            ident = drug.entry.resource_id
            if not ident or ident.startswith("#"):
                return None
            ids.append(f"{drug.entry.resource_type}/{ident}")
        if not ids:
            return None
        return self._hash("card", patient_id, finding.rule["id"], *sorted(ids))

    def encounter(self, patient_id: str | None, encounter_id: str | None) -> str | None:
        if not patient_id or not encounter_id:
            return None
        return self._hash("encounter", patient_id, encounter_id)

    # -- the hook path -----------------------------------------------------------------------------

    def screen(self, findings: Sequence[Finding], context: Mapping[str, Any], now: datetime) -> Screened:
        """Split findings into shown and held back. Critical findings are always shown."""
        patient = context.get("patientId") if isinstance(context.get("patientId"), str) else None
        encounter_id = context.get("encounterId") if isinstance(context.get("encounterId"), str) else None
        encounter = self.encounter(patient, encounter_id)
        subjects = [self.subject(f, patient) for f in findings]
        candidates = {
            s for f, s in zip(findings, subjects, strict=True) if s is not None and f.indicator != "critical"
        }
        overridden: set[str] = set()
        degraded = False
        if candidates:
            try:
                self._fresh(now)
                overridden = self.index.overridden(candidates, encounter, now - self.window)
            except Exception as exc:  # noqa: BLE001 - an outage shows the card, never hides it
                degraded = True
                log.warning("repeat store unavailable, showing every card: %s", type(exc).__name__)
        result = Screened(shown=[], encounter=encounter, degraded=degraded)
        for finding, subject in zip(findings, subjects, strict=True):
            if subject in overridden and finding.indicator != "critical":
                result.held.append(finding)
            else:
                result.shown.append(finding)
                result.subjects.append(subject)
        return result

    def remember(self, screened: Screened, cards: Sequence[Mapping[str, Any]], issued_at: datetime) -> None:
        """Record the identity of each card shown, so feedback on its uuid can hold it back later."""
        rows = [
            {
                "uuid": card["uuid"],
                "rule_id": rule_id_of(card),
                "subject": subject,
                "encounter": screened.encounter,
                "issued_at": issued_at,
            }
            for card, subject in zip(cards, screened.subjects, strict=True)
            if subject is not None and card.get("indicator") != "critical"
        ]
        if not rows:
            return
        if self.writer is None:
            try:
                self._insert(rows)
            except Exception as exc:  # noqa: BLE001 - the cards were shown; only their record is lost
                log.warning("repeat suppression could not record cards: %s", type(exc).__name__)
            return
        # Off the hook's path, in the background writer's next batch (within its interval): the
        # feedback endpoint flushes this worker's writer before it stores an override, and the
        # index of every worker looks again for an override whose card row came late.
        self.writer.submit(card_repeats, rows)

    # -- database ----------------------------------------------------------------------------------

    def refresh(self, now: datetime) -> None:
        """Bring the index up to date now (after feedback was stored through this worker), within
        the timeout; a failure is logged, and the next hook call tries again."""
        try:
            self._check_store(now, force=True)
        except Exception as exc:  # noqa: BLE001 - the feedback is stored; the index catches up later
            log.warning("repeat index not refreshed: %s", type(exc).__name__)

    def _fresh(self, now: datetime) -> None:
        """Make sure the index is fit to answer from, never older than `freshness` seconds: checked
        within half of it, it is used as it is; past half, a check starts in the background and
        this call still uses the index (it is within the freshness); past the freshness, or never
        loaded, this call waits for a check (and a store that does not answer shows every card).

        Why: under load a worker's index aged past the freshness several times a second, and each
        call that found it so waited for a database read: those calls made the slowest percent of
        relevant orders. Checking from half the freshness on, in the background, keeps a busy
        worker's index younger than the freshness, so calls no longer wait; an idle worker's first
        call still does, as before."""
        if not self.index.loaded:
            self._check_store(now)
            return
        age = monotonic() - self.index.checked_at
        if age < self.freshness / 2:
            return
        if age < self.freshness:
            self._start_check(now)
            return
        self._check_store(now)

    def _start_check(self, now: datetime, *, force: bool = False) -> Future[None]:
        """The check under way, or a new one on a pool thread: one check at a time per worker."""
        with self._lock:
            if self._executor is None or self._pid != os.getpid():  # none yet, or forked
                self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cds-repeats")
                self._pid = os.getpid()
                self._check = None
            check = self._check
            if check is None or check.done() or force:
                check = self._check = self._executor.submit(self._read_store, now)
        return check

    def _check_store(self, now: datetime, *, force: bool = False) -> None:
        """A check (see `_start_check`) waited for, given up after the timeout (the database may
        hang, not fail); callers arriving meanwhile wait for the same check."""
        check = self._start_check(now, force=force)
        try:
            check.result(timeout=self.timeout)
        except FutureTimeout:
            raise TimeoutError("repeat store check timed out") from None

    def _read_store(self, now: datetime) -> None:
        with self.engine.connect().execution_options(cds_readonly=True) as conn, conn.begin():
            self._statement_timeout(conn)
            self.index.refresh(conn, now, RETENTION)

    def _statement_timeout(self, conn: Any) -> None:
        if self.dialect == "postgresql":
            conn.execute(text(f"SET LOCAL statement_timeout = {max(int(self.timeout * 1000), 1)}"))

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.connect() as conn, conn.begin():
            self._statement_timeout(conn)
            insert_ignore_rows(conn, card_repeats, rows)
        self.purge(rows[0]["issued_at"])

    def purge(self, now: datetime | None = None) -> int:
        """Delete rows older than RETENTION (run every PURGE_SECONDS by the writer thread)."""
        now = now or datetime.now(UTC)
        with self.engine.begin() as conn:
            result = conn.execute(card_repeats.delete().where(card_repeats.c.issued_at < now - RETENTION))
        return int(result.rowcount or 0)

    def _create_schema(self) -> None:
        """The table comes with the store's schema (migrations); a guard on a bare engine (tools,
        tests) creates it itself."""
        with self.engine.begin() as conn:
            card_repeats.create(conn, checkfirst=True)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
