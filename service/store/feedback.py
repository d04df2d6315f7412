"""Feedback: the CDS Hooks feedback items clients send, stored once each, attributed to a rule."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .connection import StoreBase
from .schema import (
    INSERT_CHUNK,
    StoreUnavailable,
    chunks,
    dialect_insert,
    feedback,
    is_unavailable,
    issued_cards,
    parse_timestamp,
)


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
        inserted = 0
        with self.engine.begin() as conn:
            rules = self._rule_ids(conn, {row["card_uuid"] for row in rows})
            for row in rows:
                row["rule_id"] = rules.get(row["card_uuid"])
            for chunk in chunks(rows):
                # Count the RETURNING rows: psycopg reports rowcount -1 for this statement.
                statement = (
                    dialect_insert(self.dialect, feedback)
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
        for start in range(0, len(ordered), INSERT_CHUNK):
            part = ordered[start : start + INSERT_CHUNK]
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
