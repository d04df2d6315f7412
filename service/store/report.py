"""The per-rule alert report (issued, accepted, overridden, top override reasons) from summaries.

The summaries are those every write keeps (service/store/summaries.py).

A period starting at `since` is answered from the day tables for every full UTC day from the first
midnight at or after `since`, plus exact queries for the partial day before that midnight (on
`issued_cards`, `card_outcomes` and `feedback`, each a one-day index range). The same pass gives
the per-service and per-day figures of /admin/analytics (`report_breakdown`), so the page and
`spasticity-cds report` cannot disagree. tests/store/test_report_summaries.py compares all of it
with the exact SQL the report used before (window functions over every card of the period).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, select, union_all

from .connection import StoreBase
from .schema import card_outcomes, feedback, iso, issued_cards, reason_days, report_days, unattributed_days
from .summaries import COUNTED_OUTCOMES, as_date

TOP_OVERRIDE_REASONS = 5
# How the report counts outcomes; the report carries this sentence so a reader knows.
REPORT_COUNTING = (
    "each card counts once, by its final outcome: the last feedback (by outcome time) wins; "
    "override reasons are those of final overrides"
)
COUNTS = ("issued",) + COUNTED_OUTCOMES


@dataclass
class Breakdown:
    """The report and the same counts by service and by UTC day (issued by issue day, outcomes by
    the day of the final outcome); every figure adds up to the report's per-rule totals."""

    report: dict[str, Any]
    by_service: dict[str, dict[str, int]] = field(default_factory=dict)
    by_day: dict[date, dict[str, int]] = field(default_factory=dict)


def window_days(since: datetime | None) -> tuple[date | None, datetime | None]:
    """(first full UTC day, the midnight it starts at) of a window from `since`: the summaries
    answer from that day on, exact queries answer [since, that midnight)."""
    if since is None:
        return None, None
    since = since.astimezone(UTC)
    midnight = since.timetz().replace(tzinfo=None) == time()
    first = since.date() if midnight else since.date() + timedelta(days=1)
    return first, datetime.combine(first, time(), UTC)


class ReportStore(StoreBase):
    """Reads `issued_cards` and `feedback` together."""

    def report(self, since: datetime | None = None, *, now: datetime | None = None) -> dict[str, Any]:
        """Per-rule counts for alert-fatigue analysis.

        ``issued`` counts cards issued since `since`; ``accepted`` / ``overridden`` count cards by
        their FINAL outcome since `since` (the last feedback by outcome time wins, ties by arrival),
        so a card accepted and then overridden counts once, as overridden, and a card whose two
        suggestions were both taken counts once. ``acceptance_rate`` is accepted / issued (None when nothing
        was issued in the window): ignored cards produce no feedback, so they lower the rate, which
        is the point. A rule with feedback but no issued cards in the window still appears.
        Feedback whose card this service never recorded is counted in ``unattributed_feedback``.
        """
        return self.report_breakdown(since, now=now).report

    def report_breakdown(self, since: datetime | None = None, *, now: datetime | None = None) -> Breakdown:
        """`report(since)` together with the same counts per service and per UTC day."""
        generated_at = (now or datetime.now(UTC)).astimezone(UTC)
        queries = _Queries(since)
        cells: dict[tuple[str, str], list[int]] = {}  # (rule, service) -> COUNTS
        days: dict[date, list[int]] = {}  # day -> COUNTS

        def add(rule_id: str, service_id: str, day: date, counts: Sequence[int]) -> None:
            cell = cells.setdefault((rule_id, service_id), [0, 0, 0])
            per_day = days.setdefault(day, [0, 0, 0])
            for column, count in enumerate(counts):
                cell[column] += int(count)
                per_day[column] += int(count)

        connection = self.engine.connect().execution_options(cds_readonly=True)
        if self.dialect == "postgresql":  # one snapshot for every statement, as SQLite's read gives
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        reasons: dict[str, list[dict[str, Any]]] = {}
        with connection as conn, conn.begin():
            for rule_id, service_id, *counts in conn.execute(queries.rule_service):
                cells[(rule_id, service_id)] = [int(count) for count in counts]
            for day, *counts in conn.execute(queries.days):
                days[as_date(day)] = [int(count) for count in counts]
            unattributed = int(conn.execute(queries.unattributed).scalar_one())
            if queries.partial_day is not None:
                for rule_id, service_id, count in conn.execute(queries.issued_part):
                    add(rule_id, service_id, queries.partial_day, (count, 0, 0))
                for rule_id, service_id, outcome, count in conn.execute(queries.outcomes_part):
                    if outcome in COUNTED_OUTCOMES:
                        counts = [0, 0, 0]
                        counts[1 + COUNTED_OUTCOMES.index(outcome)] = count
                        add(rule_id, service_id, queries.partial_day, counts)
                unattributed += int(conn.execute(queries.unattributed_part).scalar_one())
            for rule_id, system, code, display, count in conn.execute(queries.reasons):
                if rule_id is not None and count:
                    reasons.setdefault(rule_id, []).append(
                        {"code": code, "system": system, "display": display, "count": int(count)}
                    )
        report: dict[str, Any] = {
            "since": iso(since),
            "generated_at": iso(generated_at),
            "rules": {},
            "unattributed_feedback": unattributed,
            "counting": REPORT_COUNTING,
        }
        return _assemble(report, cells, days, reasons)


class _Queries:
    """The statements that answer a window from `since`: the day tables from the first full UTC
    day on, exact queries for the partial day before it (when `since` is not a midnight)."""

    def __init__(self, since: datetime | None) -> None:
        first_full, boundary = window_days(since)
        sums = [func.sum(report_days.c[name]) for name in COUNTS]
        self.rule_service = select(report_days.c.rule_id, report_days.c.service_id, *sums).group_by(
            report_days.c.rule_id, report_days.c.service_id
        )
        self.days = select(report_days.c.day, *sums).group_by(report_days.c.day)
        reasons_full = select(
            reason_days.c.rule_id,
            reason_days.c.override_system,
            reason_days.c.override_code,
            reason_days.c.override_display,
            reason_days.c.cards,
        ).where(reason_days.c.cards > 0)
        self.unattributed = select(func.coalesce(func.sum(unattributed_days.c.unattributed), 0))
        self.partial_day: date | None = None
        if since is None or first_full is None or boundary is None:
            self._reasons(reasons_full.subquery())
            return
        self.rule_service = self.rule_service.where(report_days.c.day >= first_full)
        self.days = self.days.where(report_days.c.day >= first_full)
        reasons_full = reasons_full.where(reason_days.c.day >= first_full)
        self.unattributed = self.unattributed.where(unattributed_days.c.day >= first_full)
        self.partial_day = since.astimezone(UTC).date()
        outcomes = card_outcomes.c
        in_partial = and_(
            outcomes.outcome_at >= since, outcomes.outcome_at < boundary, outcomes.rule_id.is_not(None)
        )
        self.issued_part = (
            select(issued_cards.c.rule_id, issued_cards.c.service_id, func.count())
            .where(issued_cards.c.issued_at >= since, issued_cards.c.issued_at < boundary)
            .group_by(issued_cards.c.rule_id, issued_cards.c.service_id)
        )
        self.outcomes_part = (
            select(outcomes.rule_id, outcomes.service_id, outcomes.outcome, func.count())
            .where(in_partial)
            .group_by(outcomes.rule_id, outcomes.service_id, outcomes.outcome)
        )
        reason = [outcomes.rule_id, outcomes.override_system, outcomes.override_code]
        reason.append(outcomes.override_display)
        reasons_part = (
            select(*reason, func.count())
            .where(in_partial, outcomes.outcome == "overridden", outcomes.override_code.is_not(None))
            .group_by(*reason)
        )
        self.unattributed_part = (
            select(func.count())
            .select_from(feedback.outerjoin(issued_cards, issued_cards.c.uuid == feedback.c.card_uuid))
            .where(
                feedback.c.outcome_at >= since,
                feedback.c.outcome_at < boundary,
                feedback.c.rule_id.is_(None),
                issued_cards.c.uuid.is_(None),
            )
        )
        self._reasons(union_all(reasons_full, reasons_part).subquery())

    def _reasons(self, source: Any) -> None:
        # One SQL max() over both parts: the display is chosen by the database's collation, as before.
        rule_id, system, code, display, cards = (source.c[i] for i in range(5))
        self.reasons = select(rule_id, system, code, func.max(display), func.sum(cards)).group_by(
            rule_id, system, code
        )


def _assemble(
    report: dict[str, Any],
    cells: dict[tuple[str, str], list[int]],
    days: dict[date, list[int]],
    reasons: dict[str, list[dict[str, Any]]],
) -> Breakdown:
    """Per-rule entries (a rule appears when anything counts for it), per service and per day."""
    totals: dict[str, list[int]] = {}
    breakdown = Breakdown(report)
    for (rule_id, service_id), counts in cells.items():
        rule_total = totals.setdefault(rule_id, [0, 0, 0])
        service_total = breakdown.by_service.setdefault(service_id, dict.fromkeys(COUNTS, 0))
        for column, name in enumerate(COUNTS):
            rule_total[column] += counts[column]
            service_total[name] += counts[column]
    breakdown.by_day.update(
        {day: dict(zip(COUNTS, counts, strict=True)) for day, counts in sorted(days.items()) if any(counts)}
    )
    breakdown.by_service = {
        service: counts for service, counts in sorted(breakdown.by_service.items()) if any(counts.values())
    }
    for rule_id in sorted(totals):
        issued, accepted, overridden = totals[rule_id]
        if not (issued or accepted or overridden):
            continue
        ranked = sorted(reasons.get(rule_id, []), key=lambda r: (-r["count"], r["code"], r["system"] or ""))
        report["rules"][rule_id] = {
            "issued": issued,
            "accepted": accepted,
            "overridden": overridden,
            "acceptance_rate": accepted / issued if issued else None,
            "top_override_reasons": ranked[:TOP_OVERRIDE_REASONS],
        }
    return breakdown
