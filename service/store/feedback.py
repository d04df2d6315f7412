"""Feedback: the CDS Hooks feedback items clients send, stored once each, attributed to a rule."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from .connection import StoreBase
from .schema import StoreUnavailable, feedback, is_unavailable, parse_timestamp
from .summaries import insert_feedback_rows


class FeedbackStore(StoreBase):
    """The `feedback` table."""

    def store_feedback(
        self, service_id: str, items: Sequence[Mapping[str, Any]], received_at: datetime
    ) -> int:
        """Store CDS Hooks feedback items (wire shape, already schema-valid); return how many were new.

        A repeated item (same card, outcome and outcome time) is stored once: clients retry, and
        the spec says items may repeat. The rule id comes from the issued card when known.
        """
        if not items:
            return 0
        rows = [feedback_row(service_id, item, received_at) for item in items]
        try:
            self.ensure_schema()
            return self._insert_feedback(rows)
        except Exception as exc:
            if is_unavailable(exc):
                raise StoreUnavailable("database unreachable") from None
            raise

    def _insert_feedback(self, rows: list[dict[str, Any]]) -> int:
        with self.engine.begin() as conn:
            return insert_feedback_rows(conn, rows)

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


def feedback_row(service_id: str, item: Mapping[str, Any], received_at: datetime) -> dict[str, Any]:
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
