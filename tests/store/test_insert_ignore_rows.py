"""`insert_ignore_rows` (service/store/schema.py): on SQLite multi-row statements given straight to
the driver; what lands in the table is exactly what SQLAlchemy's own insert stores, a conflicting
row is ignored, and a batch costs a few statements, not one step per row."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event

from spasticity_cds.store import Store, card_repeats, issued_cards
from spasticity_cds.store.schema import VALUES_CHUNK, dialect_insert, insert_ignore_rows

NOW = datetime(2026, 11, 21, 14, 5, 6, 123456, tzinfo=UTC)


def _rows(count: int) -> list[dict[str, object]]:
    return [
        {
            "uuid": f"card-{n}",
            "rule_id": "rule-'quoted\"",
            "service_id": "svc",
            "indicator": None if n % 3 else "warning",
            # whole seconds too: SQLite text must keep SQLAlchemy's spelling (".000000")
            "issued_at": (NOW + timedelta(seconds=n, microseconds=-NOW.microsecond * (n % 2))),
        }
        for n in range(count)
    ]


def _raw(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall())  # noqa: S608 - fixed names


def test_sqlite_rows_are_stored_exactly_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    ours, theirs = Store(f"sqlite:///{tmp_path / 'ours.db'}"), Store(f"sqlite:///{tmp_path / 'theirs.db'}")
    ours.ensure_schema()
    theirs.ensure_schema()
    rows = _rows(VALUES_CHUNK * 2 + 7)
    with ours.engine.begin() as conn:
        insert_ignore_rows(conn, issued_cards, rows)
    with theirs.engine.begin() as conn:
        conn.execute(dialect_insert("sqlite", issued_cards).on_conflict_do_nothing(), rows)
    assert _raw(tmp_path / "ours.db", "issued_cards") == _raw(tmp_path / "theirs.db", "issued_cards")
    ours.close()
    theirs.close()


def test_a_row_already_there_is_ignored_and_a_batch_is_a_few_statements(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cds.db'}")
    store.ensure_schema()
    rows = [
        {"uuid": f"u{n}", "rule_id": "r", "subject": "s" * 64, "encounter": None, "issued_at": NOW}
        for n in range(120)
    ]
    with store.engine.begin() as conn:
        insert_ignore_rows(conn, card_repeats, rows[:10])
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    changed = [{**row, "rule_id": "other"} for row in rows]  # the first 10 conflict: kept as they were
    with store.engine.begin() as conn:
        insert_ignore_rows(conn, card_repeats, changed)
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert len(inserts) == 3  # 120 rows in statements of 50
    with store.engine.connect() as conn:
        query = card_repeats.select().with_only_columns(card_repeats.c.uuid, card_repeats.c.rule_id)
        kept = {uuid: rule for uuid, rule in conn.execute(query)}
    assert len(kept) == 120
    assert {kept[f"u{n}"] for n in range(10)} == {"r"}
    assert {kept[f"u{n}"] for n in range(10, 120)} == {"other"}
    store.close()
