"""Background writes: rows the answer does not depend on go to the database off the request path.

Why: a hook answer carries clinical alerts, and recording which cards were issued (so that later
feedback can be attributed to a rule) is bookkeeping. Done inline, a database outage turned every
alert into a 500, and a slow database slowed every answer. Here the request only appends rows to a
bounded in-memory queue and returns; one daemon thread per process drains the queue in batches.

Interface (generic, so any table with an idempotent insert can use it)::

    writer = BackgroundWriter(store, capacity=10_000, batch_size=500)
    writer.submit(table, rows)          # table: a sqlalchemy Table of service.store.metadata
                                        # (issued_cards, seen_jti, card_repeats: one writer);
                                        # rows: mappings of column name -> value (what
                                        # `conn.execute(insert(table), rows)` takes). Never blocks,
                                        # never raises; returns how many rows were queued.
    writer.record_cards(service_id, cards, issued_at, **extra)
                                        # the issued-card shortcut: same signature and rows as
                                        # `Store.record_cards`; `extra` columns go into every row
                                        # (e.g. repeat-suppression keys once issued_cards has them)
    writer.every(60.0, task)            # run `task()` on the writer thread every 60 s (purges)
    writer.flush(timeout=5.0)           # wait until everything queued so far is written
    writer.close(timeout=5.0)           # flush, then stop the thread (shutdown)

Guarantees and limits:

* Each batch is written in ONE transaction by `Store.insert_rows`: `INSERT ... ON CONFLICT DO
  NOTHING` per table (issued cards with their report summaries), on SQLite as multi-row
  statements (a driver step per row would hand the GIL to the request threads once per row and
  starve this thread under load), on PostgreSQL as one executemany. Rows must therefore be
  idempotent: a batch that failed is retried whole, and a row already written is then skipped by
  its unique key.
* The queue is bounded (`capacity` rows, counting the batch being written). While the database is
  down the writer retries with a growing pause (up to `max_backoff` seconds) and keeps what fits;
  rows that do not fit are dropped. Queued, written, dropped and failed batches are counted in
  Prometheus (`service.metrics.observe_writer`), and the queue depth is a gauge.
* Rows are flushed on graceful shutdown: `service.gunicorn_conf.worker_exit` and an `atexit`
  handler call `flush_all()`, bounded by a timeout so a dead database cannot hold up a restart.
  What cannot be written then (the database is down) is spooled to `spool_dir` as JSON lines, and
  the next writer started on that directory (the replacement worker) queues it again, so a
  graceful worker restart during an outage loses nothing. A process killed with SIGKILL loses
  what it held (at most `capacity` rows).
* Fork-safe: the thread is started on first use in the process that uses it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Table

from . import metrics

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 10_000
DEFAULT_BATCH_SIZE = 500
DEFAULT_INTERVAL = 0.05  # seconds the writer waits for more rows before writing a partial batch
DEFAULT_MAX_BACKOFF = 5.0
SHUTDOWN_FLUSH_SECONDS = 5.0

_writers: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class BackgroundWriter:
    """A bounded queue of (table, row) drained by one daemon thread in batched transactions."""

    def __init__(
        self,
        store: Any,
        *,
        capacity: int = DEFAULT_CAPACITY,
        batch_size: int = DEFAULT_BATCH_SIZE,
        interval: float = DEFAULT_INTERVAL,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        spool_dir: str | Path | None = None,
    ) -> None:
        """`store` is a `service.store.Store` (its engine, `ensure_schema()` and `insert_rows()`);
        `spool_dir`: where rows left at shutdown are kept for the next writer (None: nowhere)."""
        if capacity < 1 or batch_size < 1:
            raise ValueError("capacity and batch_size must be at least 1")
        self.store = store
        self.capacity = capacity
        self.batch_size = batch_size
        self.interval = interval
        self.max_backoff = max_backoff
        self._queue: deque[tuple[Table, dict[str, Any]]] = deque()
        self._in_flight = 0  # rows taken off the queue and not yet committed
        self._cond = threading.Condition()
        self._tasks: list[list[Any]] = []  # [interval, task, next due (monotonic)]
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._stopping = False
        self._urgent = False  # a flush is waiting: write without waiting for a fuller batch
        self._failing_since: float | None = None
        self.written = 0
        self.dropped = 0
        self.failed_batches = 0
        self.spool_dir = Path(spool_dir) if spool_dir is not None else None
        self._spool_checked = False
        _writers.add(self)

    # -- producer side (request threads) ---------------------------------------------------------

    def submit(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
        """Queue `rows` for `table`; returns how many fit (the rest are dropped and counted).

        The writer thread is woken only when it has something new to do: the first row of a batch
        (it times the batch from there) or a full batch; waking it on every call cost the hook path
        a thread switch per call for nothing."""
        if not rows:
            return 0
        with self._cond:
            self._ensure_thread()
            queued_before = len(self._queue)
            room = max(self.capacity - queued_before - self._in_flight, 0)
            accepted = list(rows[:room])
            self._queue.extend((table, dict(row)) for row in accepted)
            dropped = len(rows) - len(accepted)
            self.dropped += dropped
            depth = len(self._queue) + self._in_flight
            if accepted and (queued_before == 0 or len(self._queue) >= self.batch_size > queued_before):
                self._cond.notify_all()
        metrics.observe_writer(table.name, queued=len(accepted), dropped=dropped, depth=depth)
        if dropped:
            log.warning("background writer full: %d %s row(s) dropped", dropped, table.name)
        return len(accepted)

    def record_cards(
        self, service_id: str, cards: Sequence[Mapping[str, Any]], issued_at: datetime, **extra: Any
    ) -> int:
        """Queue the issued-card rows of `Store.record_cards` (same arguments); never blocks."""
        from .store import issued_card_rows, issued_cards

        return self.submit(issued_cards, issued_card_rows(service_id, cards, issued_at, **extra))

    def every(self, seconds: float, task: Callable[[], Any]) -> None:
        """Run `task()` on the writer thread every `seconds` (its failures are logged, not raised)."""
        with self._cond:
            self._tasks.append([seconds, task, time.monotonic() + seconds])
            self._ensure_thread()

    @property
    def pending(self) -> int:
        """Rows queued or being written."""
        with self._cond:
            return len(self._queue) + self._in_flight

    def flush(self, timeout: float = SHUTDOWN_FLUSH_SECONDS) -> bool:
        """Wait until every row queued before the call is written; False when `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._queue:
                self._ensure_thread()
                self._urgent = True
            self._cond.notify_all()
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout: float = SHUTDOWN_FLUSH_SECONDS) -> bool:
        """Flush (bounded by `timeout`), then stop the thread; what could not be written is spooled.
        True when nothing was left behind (written, or kept in the spool)."""
        self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(timeout, 0.1))
        left = self.pending
        if left and not (thread is not None and thread.is_alive()):
            left -= self._spool()
        if left:
            log.warning("background writer stopped with %d row(s) unwritten", left)
        return not left

    # -- spool (rows left at shutdown) ----------------------------------------------------------

    def _spool(self) -> int:
        """Write the queued rows to a new file in `spool_dir`; returns how many were kept there."""
        if self.spool_dir is None:
            return 0
        with self._cond:
            rows = list(self._queue)
            self._queue.clear()
        if not rows:
            return 0
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            final = self.spool_dir / f"rows-{os.getpid()}-{time.time_ns()}.jsonl"
            partial = final.with_suffix(".partial")
            with partial.open("w", encoding="utf-8") as handle:
                for table, row in rows:
                    handle.write(json.dumps({"table": table.name, "row": row}, default=_encode) + "\n")
            partial.rename(final)
        except OSError as exc:
            log.warning("background writer: cannot spool %d row(s): %s", len(rows), type(exc).__name__)
            return 0
        log.warning("background writer: %d row(s) spooled for the next worker", len(rows))
        return len(rows)

    def _unspool(self) -> list[tuple[Table, dict[str, Any]]]:
        """Rows spooled by writers that stopped before; each file is claimed by one writer only."""
        if self.spool_dir is None or not self.spool_dir.is_dir():
            return []
        from .store import metadata

        found: list[tuple[Table, dict[str, Any]]] = []
        for path in sorted(self.spool_dir.glob("rows-*.jsonl")):
            claimed = path.with_suffix(f".claimed-{os.getpid()}")
            try:
                path.rename(claimed)  # atomic: a sibling worker that got there first wins
                lines = claimed.read_text(encoding="utf-8").splitlines()
                claimed.unlink()
            except OSError:
                continue
            for line in lines:
                try:
                    entry = json.loads(line)
                    table = metadata.tables[entry["table"]]
                    found.append((table, _decode(table, entry["row"])))
                except (ValueError, KeyError, TypeError):
                    log.warning("background writer: unreadable spooled row skipped")
            if len(found) >= self.capacity:
                break
        if found:
            log.warning("background writer: %d spooled row(s) queued again", len(found))
        return found[: self.capacity]

    # -- consumer side (the writer thread) -------------------------------------------------------

    def _ensure_thread(self) -> None:
        """Start the thread in this process if it is not running (called with the lock held)."""
        if self._pid != os.getpid():  # forked: the parent's thread and rows are not ours
            self._pid = os.getpid()
            self._thread = None
            self._queue.clear()
            self._in_flight = 0
        if self._stopping or (self._thread is not None and self._thread.is_alive()):
            return
        if not self._spool_checked:
            self._spool_checked = True
            self._queue.extend(self._unspool())
        self._thread = threading.Thread(target=self._run, name="cds-background-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff = 0.0
        while True:
            batch = self._take(backoff)
            if batch is None:
                return
            self._run_due_tasks()
            if not batch:
                continue
            if self._write(batch):
                backoff = 0.0
            elif self._stopping:
                return  # shutting down and the database is not there: nothing more to try
            else:
                backoff = min(max(backoff * 2, 0.25), self.max_backoff)

    def _take(self, backoff: float) -> list[tuple[Table, dict[str, Any]]] | None:
        """The next batch (empty when only tasks are due); None when stopping with nothing queued.

        Waits `backoff` seconds after a failed write; otherwise until a full batch is queued, or
        `interval` after the first row arrived (or at once when a flush asked), or a task is due.
        """
        with self._cond:
            if backoff:
                until = time.monotonic() + backoff
                while not self._stopping and (left := until - time.monotonic()) > 0 and not self._tasks_due():
                    self._cond.wait(min(left, self._next_task_in()))
            else:
                first_row_at: float | None = None
                while not self._stopping and not self._tasks_due():
                    if len(self._queue) >= self.batch_size or (self._queue and self._urgent):
                        break
                    now = time.monotonic()
                    left = self._next_task_in()
                    if self._queue:
                        first_row_at = first_row_at or now
                        left = min(left, first_row_at + self.interval - now)
                        if left <= 0:
                            break
                    self._cond.wait(left)
            if self._stopping and not self._queue:
                return None
            size = min(len(self._queue), self.batch_size)
            batch = [self._queue.popleft() for _ in range(size)]
            self._in_flight = size
            if not self._queue:
                self._urgent = False
            return batch

    def _next_task_in(self) -> float:
        if not self._tasks:
            return 1.0
        return max(min(due for _i, _t, due in self._tasks) - time.monotonic(), 0.01)

    def _tasks_due(self) -> bool:
        now = time.monotonic()
        return any(due <= now for _i, _t, due in self._tasks)

    def _run_due_tasks(self) -> None:
        now = time.monotonic()
        for entry in list(self._tasks):
            seconds, task, due = entry
            if due > now:
                continue
            entry[2] = now + seconds
            try:
                task()
            except Exception as exc:  # noqa: BLE001 - a maintenance task must not stop the writer
                log.warning(
                    "background task %s failed: %s", getattr(task, "__name__", task), type(exc).__name__
                )

    def _write(self, batch: list[tuple[Table, dict[str, Any]]]) -> bool:
        """Write one batch in one transaction; on failure put it back at the front of the queue."""
        by_table: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
        for table, row in batch:
            by_table.setdefault(table.name, (table, []))[1].append(row)
        try:
            self.store.ensure_schema()
            # One transaction per engine: the jti claims of a SQLite file have a file of their own
            # (service/store/replay.py). Every row is insert-or-ignore, so a batch put back after
            # one engine committed is written again without doubling anything.
            by_engine: dict[Any, list[tuple[Table, list[dict[str, Any]]]]] = {}
            for table, rows in by_table.values():
                by_engine.setdefault(self.store.engine_for(table), []).append((table, rows))
            for engine, tables in by_engine.items():
                with engine.begin() as conn:
                    for table, rows in tables:
                        # Multi-row statements (service/store/schema.py insert_ignore_rows); issued cards
                        # with their report summaries, in the same transaction.
                        self.store.insert_rows(conn, table, rows)
        except Exception as exc:  # noqa: BLE001 - any failure: keep the rows, retry later
            with self._cond:
                self._queue.extendleft(reversed(batch))
                self._in_flight = 0
                self.failed_batches += 1
                depth = len(self._queue)
                self._cond.notify_all()
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                # The type only: a driver message can hold the connection URL and its password.
                log.warning(
                    "background writer: database write failed (%s); %d row(s) kept", type(exc).__name__, depth
                )
            metrics.observe_writer("batch", failed=1, depth=depth)
            return False
        with self._cond:
            self._in_flight = 0
            self.written += len(batch)
            depth = len(self._queue)
            self._cond.notify_all()
        if self._failing_since is not None:
            log.warning(
                "background writer: database writable again after %.1f s",
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None
        for name, (_table, rows) in by_table.items():
            metrics.observe_writer(name, written=len(rows), depth=depth)
        return True


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """A spooled row with its date-time columns parsed back (they were written as ISO strings)."""
    decoded = dict(row)
    for column in table.columns:
        value = decoded.get(column.name)
        if isinstance(value, str) and isinstance(column.type, DateTime | _datetime_decorator()):
            decoded[column.name] = datetime.fromisoformat(value)
    return decoded


def _datetime_decorator() -> type:
    from .store import UtcDateTime

    return UtcDateTime


def flush_all(timeout: float = SHUTDOWN_FLUSH_SECONDS) -> None:
    """Flush and stop every writer of this process (gunicorn `worker_exit`, `atexit`)."""
    deadline = time.monotonic() + timeout
    for writer in list(_writers):
        if writer._pid == os.getpid():  # noqa: SLF001 - same module
            writer.close(max(deadline - time.monotonic(), 0.1))


atexit.register(flush_all)
