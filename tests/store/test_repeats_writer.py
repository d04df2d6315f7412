"""Repeat-suppression rows go through the service's one background writer (no second writer)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from spasticity_cds.repeats import RETENTION, RepeatGuard, Screened
from spasticity_cds.store import Store, card_repeats
from spasticity_cds.writer import BackgroundWriter

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)


def _card(uuid: str) -> dict[str, object]:
    return {"uuid": uuid, "indicator": "warning", "source": {"label": "x", "topic": {"code": "rule-a"}}}


def _count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(card_repeats)).scalar_one())


def test_rows_are_queued_on_the_shared_writer_and_written_in_its_next_batch(store: Store) -> None:
    writer = BackgroundWriter(store, interval=0.05)
    guard = RepeatGuard(store.engine, SECRET, window=timedelta(hours=12), timeout=2.0, writer=writer)
    try:
        before = {t.name for t in threading.enumerate()}
        screened = Screened(shown=[], subjects=["s" * 64, None], encounter=None)
        guard.remember(screened, [_card("u-1"), _card("u-2")], NOW)
        new_threads = {t.name for t in threading.enumerate()} - before
        assert not any(name.startswith("cds-repeats") for name in new_threads)  # no second writer
        deadline = time.monotonic() + 5.0  # the batch interval is 50 ms
        while _count(store) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _count(store) == 1  # the card without a stable identity is not remembered
        assert writer.written >= 1
    finally:
        writer.close()
        guard.close()


def test_old_rows_are_purged_by_the_writer_task(store: Store) -> None:
    writer = BackgroundWriter(store)
    guard = RepeatGuard(store.engine, SECRET, window=timedelta(hours=12), timeout=2.0, writer=writer)
    try:
        old = NOW - RETENTION - timedelta(hours=1)
        row = {"uuid": "old", "rule_id": "r", "subject": "s", "encounter": None, "issued_at": old}
        writer.submit(card_repeats, [row])
        assert writer.flush(5.0)
        assert _count(store) == 1
        assert guard.purge(NOW) == 1
        assert _count(store) == 0
        assert any(task == guard.purge for _i, task, _due in writer._tasks)  # noqa: SLF001
    finally:
        writer.close()
        guard.close()


def test_without_a_writer_rows_are_written_at_once(sqlite_store: Store) -> None:
    guard = RepeatGuard(sqlite_store.engine, SECRET, window=timedelta(hours=12), timeout=2.0)
    try:
        guard.remember(Screened(shown=[], subjects=["s" * 64]), [_card("u-3")], NOW)
        assert _count(sqlite_store) == 1
    finally:
        guard.close()
