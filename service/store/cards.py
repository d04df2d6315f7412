"""Issued cards: which rule issued each card uuid, so later feedback can be attributed to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection

from ..cardkeys import rule_id_of
from .connection import StoreBase
from .schema import insert_ignore_rows, issued_cards
from .summaries import insert_issued_cards


class CardsStore(StoreBase):
    """The `issued_cards` table."""

    def record_cards(
        self, service_id: str, cards: Sequence[Mapping[str, Any]], issued_at: datetime, **extra: Any
    ) -> None:
        """Remember which rule issued each card, so later feedback on its uuid can be attributed.

        Synchronous; the service itself queues the same rows on `service.writer.BackgroundWriter`
        (`writer.record_cards`, same arguments). See `issued_card_rows` for what is recorded.
        """
        rows = issued_card_rows(service_id, cards, issued_at, **extra)
        if not rows:
            return
        with self.engine.begin() as conn:
            insert_issued_cards(conn, rows)

    def insert_rows(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert-or-ignore `rows` into `table` inside the caller's transaction (the background
        writer's batch): issued cards through `insert_issued_cards`, so the report summaries change
        in the same transaction; other tables with the plain insert-or-ignore."""
        if table is issued_cards:
            insert_issued_cards(conn, rows)
        else:
            insert_ignore_rows(conn, table, rows)

    def issued_card_count(self) -> int:
        """Number of recorded issued cards (monitoring and tests)."""
        with self.engine.connect().execution_options(cds_readonly=True) as conn:
            return int(conn.execute(select(func.count()).select_from(issued_cards)).scalar_one())


def issued_card_rows(
    service_id: str, cards: Sequence[Mapping[str, Any]], issued_at: datetime, **extra: Any
) -> list[dict[str, Any]]:
    """The `issued_cards` rows for cards returned by `service_id` at `issued_at`.

    Cards without a uuid or without ``source.topic.code`` cannot receive attributable feedback
    and are skipped. A uuid recorded twice keeps its first record (insert-or-ignore). `extra`
    columns are added to every row, for columns other features add to the table.
    """
    rows = []
    for card in cards:
        uuid = card.get("uuid")
        rule_id = rule_id_of(card)
        if not isinstance(uuid, str) or not uuid or rule_id is None:
            continue
        indicator = card.get("indicator")
        rows.append(
            {
                "uuid": uuid,
                "rule_id": rule_id,
                "service_id": service_id,
                "indicator": indicator if isinstance(indicator, str) else None,
                "issued_at": issued_at,
                **extra,
            }
        )
    return rows
