"""The per-rule alert report (issued, accepted, overridden, top override reasons) in SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select

from .connection import StoreBase
from .schema import feedback, iso, issued_cards

TOP_OVERRIDE_REASONS = 5

REPORT_COUNTING = (
    "each card counts once, by its final outcome: the last feedback (by outcome time) wins; "
    "override reasons are those of final overrides"
)
# Rows per INSERT statement: well under SQLite's 32766 and PostgreSQL's 65535 bound parameters.

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
        generated_at = (now or datetime.now(UTC)).astimezone(UTC)
        rules: dict[str, dict[str, Any]] = {}

        def entry(rule_id: str) -> dict[str, Any]:
            blank = {"issued": 0, "accepted": 0, "overridden": 0, "acceptance_rate": None}
            return rules.setdefault(rule_id, {**blank, "top_override_reasons": []})

        rule = func.coalesce(feedback.c.rule_id, issued_cards.c.rule_id).label("rule_id")
        joined = feedback.outerjoin(issued_cards, issued_cards.c.uuid == feedback.c.card_uuid)
        # The final feedback item of each card in the window: outcomes and reasons count only it.
        latest_first = (feedback.c.outcome_at.desc(), feedback.c.id.desc())
        ranked_q = select(
            feedback.c.id,
            func.row_number()
            .over(partition_by=feedback.c.card_uuid, order_by=latest_first)
            .label("position"),
        )
        if since is not None:
            ranked_q = ranked_q.where(feedback.c.outcome_at >= since)
        latest = ranked_q.subquery()
        final = joined.join(latest, and_(latest.c.id == feedback.c.id, latest.c.position == 1))
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
            "since": iso(since),
            "generated_at": iso(generated_at),
            "rules": {rule_id: rules[rule_id] for rule_id in sorted(rules)},
            "unattributed_feedback": unattributed,
            "counting": REPORT_COUNTING,
        }
