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
writer (service/writer.py), off the hook's path; the guard's own threads only bound its reads.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from .cardkeys import rule_id_of
from .config import Config
from .engine import Finding
from .store import REPEAT_HASH_LENGTH, card_repeats, dialect_insert, feedback

log = logging.getLogger(__name__)

SECRET_FILE = "repeat-secret"
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


class RepeatGuard:
    """Holds back overridden cards; remembers the identity of each card it lets through."""

    def __init__(
        self, engine: Engine, secret: bytes, *, window: timedelta, timeout: float, writer: Any = None
    ) -> None:
        """`writer`: the service's `service.writer.BackgroundWriter` (rows are queued there, and it
        purges old rows); None writes synchronously (tools, tests)."""
        self.engine = engine
        self.dialect = engine.dialect.name
        self._secret = secret
        self.window = window
        self.timeout = timeout
        self.writer = writer
        self._executor: ThreadPoolExecutor | None = None  # bounded reads only
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
        return cls(engine, secret, window=window, timeout=config.repeat_timeout, writer=writer)

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
            # No wait for this process's own queued rows here: an override arrives through the
            # feedback endpoint, which flushes the writer before it stores the feedback, and the
            # rows are written at once (`prompt`); waiting here put a database write on every call.
            try:
                overridden = self._run(self._overridden, candidates, encounter, now)
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
        # Off the hook's path, on the service's one background writer, written at once: the
        # clinician needs seconds before an override can arrive, and the feedback endpoint flushes
        # the writer before it stores one.
        self.writer.submit(card_repeats, rows, prompt=True)

    # -- database ----------------------------------------------------------------------------------

    def _executor_now(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None or self._pid != os.getpid():  # none yet, or forked
                self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cds-repeats")
                self._pid = os.getpid()
            return self._executor

    def _run(self, fn: Any, *args: Any) -> Any:
        """Run `fn` on a worker thread and give up after the timeout (the DB may hang, not fail)."""
        future = self._executor_now().submit(fn, *args)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            future.cancel()
            raise

    def _begin(self, readonly: bool) -> Any:
        conn = self.engine.connect().execution_options(cds_readonly=readonly)
        return conn

    def _statement_timeout(self, conn: Any) -> None:
        if self.dialect == "postgresql":
            conn.execute(text(f"SET LOCAL statement_timeout = {max(int(self.timeout * 1000), 1)}"))

    def _overridden(self, subjects: set[str], encounter: str | None, now: datetime) -> set[str]:
        query = (
            select(
                card_repeats.c.subject,
                feedback.c.outcome,
                feedback.c.outcome_at,
                feedback.c.id,
            )
            .select_from(card_repeats.join(feedback, feedback.c.card_uuid == card_repeats.c.uuid))
            .where(card_repeats.c.subject.in_(sorted(subjects)))
        )
        if encounter is not None:
            query = query.where(card_repeats.c.encounter == encounter)
        else:
            query = query.where(feedback.c.received_at >= now - self.window)
        latest: dict[str, tuple[datetime, int, str]] = {}
        with self._begin(True) as conn, conn.begin():
            self._statement_timeout(conn)
            for subject, outcome, outcome_at, ident in conn.execute(query):
                key = (outcome_at, int(ident), outcome)
                if subject not in latest or key[:2] > latest[subject][:2]:
                    latest[subject] = key
        # The last feedback wins: accepted after an override means the card may show again.
        return {subject for subject, (_, _, outcome) in latest.items() if outcome == "overridden"}

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self._begin(False) as conn, conn.begin():
            self._statement_timeout(conn)
            conn.execute(dialect_insert(self.dialect, card_repeats).values(rows).on_conflict_do_nothing())
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
