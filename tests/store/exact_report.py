"""The reference: the report, per service and per day, counted exactly from `issued_cards` and
`feedback` with the SQL the service used before it kept summaries (window functions over every
card of the period). Kept here only, to check the summaries against; never used by the service.

`exact_breakdown(store, since)` returns what `Store.report_breakdown(since)` must return: the report
(without `generated_at`), `by_service` and `by_day` (issued by issue day, accepted / overridden by
the day of the card's final outcome), each without all-zero entries.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, and_, cast, func, select

from spasticity_cds.store import REPORT_COUNTING, TOP_OVERRIDE_REASONS, Store, feedback, issued_cards
from spasticity_cds.store.schema import iso

OUTCOMES = ("accepted", "overridden")


def _final(since: datetime | None) -> Any:
    """feedback joined to its issued card, keeping each card's final item in the window."""
    ranked_q = select(
        feedback.c.id,
        func.row_number()
        .over(
            partition_by=feedback.c.card_uuid, order_by=(feedback.c.outcome_at.desc(), feedback.c.id.desc())
        )
        .label("position"),
    )
    if since is not None:
        ranked_q = ranked_q.where(feedback.c.outcome_at >= since)
    ranked = ranked_q.subquery()
    joined = feedback.outerjoin(issued_cards, issued_cards.c.uuid == feedback.c.card_uuid)
    return joined.join(ranked, and_(ranked.c.id == feedback.c.id, ranked.c.position == 1))


def _day(column: Any, dialect: str) -> Any:
    return func.date(column) if dialect == "sqlite" else cast(column, Date)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def exact_report(store: Store, since: datetime | None) -> dict[str, Any]:
    """`Store.report(since)` as the service computed it before summaries (minus generated_at)."""
    rules: dict[str, dict[str, Any]] = {}

    def entry(rule_id: str) -> dict[str, Any]:
        blank = {"issued": 0, "accepted": 0, "overridden": 0, "acceptance_rate": None}
        return rules.setdefault(rule_id, {**blank, "top_override_reasons": []})

    rule = func.coalesce(feedback.c.rule_id, issued_cards.c.rule_id).label("rule_id")
    joined = feedback.outerjoin(issued_cards, issued_cards.c.uuid == feedback.c.card_uuid)
    final = _final(since)
    issued_q = select(issued_cards.c.rule_id, func.count()).group_by(issued_cards.c.rule_id)
    outcome_q = (
        select(rule, feedback.c.outcome, func.count(func.distinct(feedback.c.card_uuid)))
        .select_from(final)
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
        .select_from(final)
        .where(feedback.c.outcome == "overridden", feedback.c.override_code.is_not(None))
        .group_by(rule, feedback.c.override_system, feedback.c.override_code)
    )
    unattributed_q = select(func.count()).select_from(joined).where(rule.is_(None))
    if since is not None:
        issued_q = issued_q.where(issued_cards.c.issued_at >= since)
        unattributed_q = unattributed_q.where(feedback.c.outcome_at >= since)
    with store.engine.connect() as conn:
        for rule_id, count in conn.execute(issued_q):
            entry(rule_id)["issued"] = int(count)
        for rule_id, outcome, count in conn.execute(outcome_q):
            if rule_id is not None and outcome in OUTCOMES:
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
        ranked = sorted(reasons.get(rule_id, []), key=lambda r: (-r["count"], r["code"], r["system"] or ""))
        counts["top_override_reasons"] = ranked[:TOP_OVERRIDE_REASONS]
    return {
        "since": iso(since),
        "rules": {rule_id: rules[rule_id] for rule_id in sorted(rules)},
        "unattributed_feedback": unattributed,
        "counting": REPORT_COUNTING,
    }


def exact_by_service_and_day(
    store: Store, since: datetime | None
) -> tuple[dict[str, dict[str, int]], dict[date, dict[str, int]]]:
    """Per service and per UTC day, as /admin/analytics queried them before summaries."""
    dialect = store.dialect
    rule = func.coalesce(feedback.c.rule_id, issued_cards.c.rule_id)
    service = func.coalesce(issued_cards.c.service_id, feedback.c.service_id)
    final = _final(since)
    counted = and_(rule.is_not(None), feedback.c.outcome.in_(OUTCOMES))
    issued_day = _day(issued_cards.c.issued_at, dialect)
    outcome_day = _day(feedback.c.outcome_at, dialect)
    queries = {
        "issued_service": select(issued_cards.c.service_id, func.count()).group_by(issued_cards.c.service_id),
        "issued_day": select(issued_day, func.count()).group_by(issued_day),
        "outcome_service": select(
            service, feedback.c.outcome, func.count(func.distinct(feedback.c.card_uuid))
        )
        .select_from(final)
        .where(counted)
        .group_by(service, feedback.c.outcome),
        "outcome_day": select(
            outcome_day, feedback.c.outcome, func.count(func.distinct(feedback.c.card_uuid))
        )
        .select_from(final)
        .where(counted)
        .group_by(outcome_day, feedback.c.outcome),
    }
    if since is not None:
        queries["issued_service"] = queries["issued_service"].where(issued_cards.c.issued_at >= since)
        queries["issued_day"] = queries["issued_day"].where(issued_cards.c.issued_at >= since)
    by_service: dict[str, dict[str, int]] = {}
    by_day: dict[date, dict[str, int]] = {}

    def blank() -> dict[str, int]:
        return {"issued": 0, "accepted": 0, "overridden": 0}

    with store.engine.connect() as conn:
        for service_id, count in conn.execute(queries["issued_service"]):
            by_service.setdefault(service_id, blank())["issued"] = int(count)
        for day, count in conn.execute(queries["issued_day"]):
            by_day.setdefault(_as_date(day), blank())["issued"] = int(count)
        for service_id, outcome, count in conn.execute(queries["outcome_service"]):
            by_service.setdefault(service_id, blank())[outcome] = int(count)
        for day, outcome, count in conn.execute(queries["outcome_day"]):
            by_day.setdefault(_as_date(day), blank())[outcome] = int(count)
    return by_service, dict(sorted(by_day.items()))


def exact_breakdown(store: Store, since: datetime | None) -> dict[str, Any]:
    by_service, by_day = exact_by_service_and_day(store, since)
    return {"report": exact_report(store, since), "by_service": by_service, "by_day": by_day}


def fast_breakdown(store: Store, since: datetime | None) -> dict[str, Any]:
    """`Store.report_breakdown(since)` in the shape of `exact_breakdown`."""
    result = store.report_breakdown(since)
    report = dict(result.report)
    report.pop("generated_at")
    return {"report": report, "by_service": result.by_service, "by_day": result.by_day}
