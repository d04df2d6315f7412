"""Override analytics for a period: the per-rule numbers of `report --json`, plus per service and per day.

The per-rule numbers are `Store.report(since)` itself, with `since` parsed by the same
`parse_since` as `spasticity-cds report --since Nd`, so the page and the command cannot disagree.
The report has no service or day dimension; those two views are queried here with the same
counting rules (issued by issue time; accepted / overridden as distinct cards by outcome time,
attributed to a rule), and a test checks that they add up to the per-rule totals.

Computing a 90-day window over 100,000 cards takes a few hundred milliseconds (every card in the
window is counted), so each worker keeps the last result per period and reuses it while the store
has not changed (newest issue time and newest feedback id, two index look-ups) and for at most
REUSE_SECONDS: a reused page is exact unless a card was written with an older issue time than the
newest one, or cards aged out of the window in the meantime, both bounded by REUSE_SECONDS.

"Held back as repeats" is read from the report (`held_back` per rule, when the store records repeat
suppression); where the store has no such count the page says "n/a", never a made-up 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import Date, and_, cast, func, select

from ..report import parse_since
from ..store import feedback, issued_cards

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
HELD_BACK = "held_back"  # the report key of cards held back as repeats (repeat suppression)
OUTCOMES = ("accepted", "overridden")
REUSE_SECONDS = 60.0
_CACHE_KEY = "cds.admin.analytics"


@dataclass
class ServiceRow:
    service_id: str
    title: str
    issued: int = 0
    accepted: int = 0
    overridden: int = 0
    held_back: int | None = None

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.issued if self.issued else None


@dataclass
class Analytics:
    days: int
    since: datetime
    report: dict[str, Any]  # exactly Store.report(since)
    rule_titles: Mapping[str, str]
    services: list[ServiceRow]
    per_day: list[tuple[date, int, int]]  # (day, issued, overridden), every day of the period
    reason_displays: Mapping[tuple[str | None, str], str] = field(default_factory=dict)

    @property
    def rules(self) -> Mapping[str, Mapping[str, Any]]:
        return self.report["rules"]  # type: ignore[no-any-return]

    def totals(self) -> dict[str, int]:
        return {
            key: sum(int(counts.get(key) or 0) for counts in self.rules.values())
            for key in ("issued", "accepted", "overridden")
        }

    def reason_display(self, reason: Mapping[str, Any]) -> str:
        """The stored display, else the display the rule files give that code (the service's own)."""
        display = reason.get("display")
        if display:
            return str(display)
        key = (reason.get("system"), str(reason.get("code")))
        return self.reason_displays.get(key, key[1])


def period_of(raw: str | None) -> int | None:
    """`?days=` -> one of PERIODS (default 30 when absent); None when it is anything else."""
    if raw is None or raw == "":
        return DEFAULT_PERIOD
    try:
        days = int(raw)
    except ValueError:
        return None
    return days if days in PERIODS else None


def _day(column: Any, dialect: str) -> Any:
    # SQLite stores the naive UTC time as text: date() takes its day; PostgreSQL casts the timestamp.
    return func.date(column) if dialect == "sqlite" else cast(column, Date)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _fingerprint(store: Any) -> tuple[Any, Any]:
    """What changes when cards or feedback are written: O(log n) through the indexes."""
    with store.engine.connect().execution_options(cds_readonly=True) as conn:
        newest_card = conn.execute(select(func.max(issued_cards.c.issued_at))).scalar()
        newest_feedback = conn.execute(select(func.max(feedback.c.id))).scalar()
    return newest_card, newest_feedback


def cached(
    cache: dict[str, Any], store: Any, knowledge: Any, days: int, clock: Callable[[], datetime]
) -> Analytics:
    """`build`, reused while the store is unchanged and the result younger than REUSE_SECONDS."""
    entries: dict[int, tuple[tuple[Any, Any], float, Analytics]] = cache.setdefault(_CACHE_KEY, {})
    fingerprint = _fingerprint(store)
    now = monotonic()
    entry = entries.get(days)
    if entry is not None and entry[0] == fingerprint and now - entry[1] < REUSE_SECONDS:
        return entry[2]
    result = build(store, knowledge, days, clock)
    entries[days] = (fingerprint, now, result)
    return result


def build(store: Any, knowledge: Any, days: int, clock: Callable[[], datetime]) -> Analytics:
    """All the numbers the analytics page shows for the last `days` days."""
    since = parse_since(f"{days}d", now=clock)
    report = store.report(since)
    services = _per_service(store, knowledge, since, report)
    per_day = _per_day(store, since, clock().astimezone(UTC).date())
    override_system = knowledge.presentation.get("override_system")
    displays = {
        (override_system, reason["code"]): reason["display"]
        for rule in knowledge.rules
        for reason in rule["card"].get("override_reasons", [])
    }
    titles = {rule["id"]: rule["title"] for rule in knowledge.rules}
    return Analytics(days, since, report, titles, services, per_day, displays)


def _final_feedback(since: datetime) -> Any:
    """feedback joined to its issued card, keeping each card's final item in the window: the same
    counting as Store.report (the last feedback wins), so the per-service and per-day figures add
    up to the per-rule ones."""
    ranked = (
        select(
            feedback.c.id,
            func.row_number()
            .over(
                partition_by=feedback.c.card_uuid,
                order_by=(feedback.c.outcome_at.desc(), feedback.c.id.desc()),
            )
            .label("position"),
        )
        .where(feedback.c.outcome_at >= since)
        .subquery()
    )
    joined = feedback.outerjoin(issued_cards, issued_cards.c.uuid == feedback.c.card_uuid)
    return joined.join(ranked, and_(ranked.c.id == feedback.c.id, ranked.c.position == 1))


def _per_service(store: Any, knowledge: Any, since: datetime, report: Mapping[str, Any]) -> list[ServiceRow]:
    rows = {sid: ServiceRow(sid, str(s.get("title", sid))) for sid, s in knowledge.services.items()}

    def row(service_id: str) -> ServiceRow:
        return rows.setdefault(service_id, ServiceRow(service_id, service_id))

    rule = func.coalesce(feedback.c.rule_id, issued_cards.c.rule_id)
    service = func.coalesce(issued_cards.c.service_id, feedback.c.service_id).label("service_id")
    joined = _final_feedback(since)
    issued_q = (
        select(issued_cards.c.service_id, func.count())
        .where(issued_cards.c.issued_at >= since)
        .group_by(issued_cards.c.service_id)
    )
    outcome_q = (
        select(service, feedback.c.outcome, func.count(func.distinct(feedback.c.card_uuid)))
        .select_from(joined)
        .where(feedback.c.outcome_at >= since, rule.is_not(None), feedback.c.outcome.in_(OUTCOMES))
        .group_by(service, feedback.c.outcome)
    )
    with store.engine.connect().execution_options(cds_readonly=True) as conn:
        for service_id, count in conn.execute(issued_q):
            row(service_id).issued = int(count)
        for service_id, outcome, count in conn.execute(outcome_q):
            setattr(row(service_id), outcome, int(count))
    held = (report.get("services") or {}) if isinstance(report.get("services"), Mapping) else {}
    for service_id, counts in held.items():
        if isinstance(counts, Mapping) and counts.get(HELD_BACK) is not None:
            row(service_id).held_back = int(counts[HELD_BACK])
    return list(rows.values())


def _per_day(store: Any, since: datetime, today: date) -> list[tuple[date, int, int]]:
    dialect = store.engine.dialect.name
    issued_day = _day(issued_cards.c.issued_at, dialect).label("day")
    issued_q = select(issued_day, func.count()).where(issued_cards.c.issued_at >= since).group_by(issued_day)
    rule = func.coalesce(feedback.c.rule_id, issued_cards.c.rule_id)
    joined = _final_feedback(since)
    outcome_day = _day(feedback.c.outcome_at, dialect).label("day")
    overridden_q = (
        select(outcome_day, func.count(func.distinct(feedback.c.card_uuid)))
        .select_from(joined)
        .where(feedback.c.outcome_at >= since, feedback.c.outcome == "overridden", rule.is_not(None))
        .group_by(outcome_day)
    )
    issued: dict[date, int] = {}
    overridden: dict[date, int] = {}
    with store.engine.connect().execution_options(cds_readonly=True) as conn:
        for day, count in conn.execute(issued_q):
            issued[_as_date(day)] = int(count)
        for day, count in conn.execute(overridden_q):
            overridden[_as_date(day)] = int(count)
    first = since.astimezone(UTC).date()
    span = max((today - first).days, 0) + 1
    days = [first + timedelta(days=i) for i in range(span)]
    return [(d, issued.get(d, 0), overridden.get(d, 0)) for d in days]


def held_back(counts: Mapping[str, Any]) -> int | None:
    """A rule's cards held back as repeats, or None when the store does not count them."""
    value = counts.get(HELD_BACK)
    return None if value is None else int(value)
