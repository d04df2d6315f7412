"""The background writer on a real PostgreSQL: batches, one transaction each, a reused statement,
a bounded queue through an outage (kept vs dropped, both counted), flush on shutdown, and the
`jti` check falling back to a per-process replay cache while the store is unreachable.

The outage tests stop and restart a PostgreSQL server of their own (`halt` / `resume`), so the
session's shared server is never disturbed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from spasticity_cds import metrics
from spasticity_cds.auth import JwtVerifier, ReplayCache
from spasticity_cds.store import Store, StoreUnavailable, issued_card_rows, issued_cards, seen_jti
from spasticity_cds.writer import BackgroundWriter
from tests.store.common import FIXED_NOW
from tests.support.postgres import PostgresServer, free_port, running_postgres


def card(uuid: str, rule: str = "baclofen-dantrolene-combination") -> dict[str, Any]:
    return {"uuid": uuid, "indicator": "warning", "source": {"topic": {"code": rule}}}


def sample(name: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels or None)
    return float(value or 0.0)


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server these tests may stop and start."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def outage_url(own_postgres: PostgresServer) -> Iterator[str]:
    own_postgres.resume()
    url = own_postgres.create_database(f"writer_{free_port()}")
    yield url
    own_postgres.resume()


class Transactions:
    """Counts commits and INSERT executions on an engine (SQLAlchemy events)."""

    def __init__(self, store: Store) -> None:
        self.commits = 0
        self.inserts: list[tuple[str, bool]] = []
        event.listen(store.engine, "commit", self._commit)
        event.listen(store.engine, "before_cursor_execute", self._execute)

    def _commit(self, _conn: Any) -> None:
        self.commits += 1

    def _execute(self, _conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            self.inserts.append((statement, many))


def test_rows_are_written_in_batches_one_transaction_each_with_one_statement(pg_url: str) -> None:
    with Store(pg_url) as store:
        seen = Transactions(store)
        writer = BackgroundWriter(store, batch_size=100, interval=0.5)
        cards = [card(f"c-{i}") for i in range(250)]
        assert writer.record_cards("order-sign", cards, FIXED_NOW) == 250
        assert writer.flush(timeout=10)
        assert store.issued_card_count() == 250
        # 250 rows in batches of at most 100: three transactions, each one INSERT statement into
        # issued_cards (executemany), and the same SQL text every time: the statement is reused.
        # (Each batch also adds to the report summaries: one upsert of its day counts.)
        assert seen.commits == 3, seen.commits
        cards_inserts = [(s, many) for s, many in seen.inserts if "INTO issued_cards" in s]
        assert len(cards_inserts) == 3 and all(many for _, many in cards_inserts)
        # One statement for every batch: RETURNING names the rows really inserted, and SQLAlchemy
        # renders its VALUES once per row count (100, 100, 50 here), the rest the same text.
        assert len({statement.split(" VALUES ")[0] for statement, _ in cards_inserts}) == 1
        assert all(statement.endswith("RETURNING issued_cards.uuid") for statement, _ in cards_inserts)
        assert len({statement for statement, _ in cards_inserts}) == 2
        assert len(seen.inserts) == 6  # and one summary upsert per batch
        assert writer.written == 250 and writer.dropped == 0
        writer.close()


def test_record_cards_takes_extra_columns_like_the_store(pg_url: str) -> None:
    rows = issued_card_rows("order-sign", [card("c-1"), {"uuid": "no-rule"}], FIXED_NOW, indicator="critical")
    assert rows == [
        {"uuid": "c-1", "rule_id": "baclofen-dantrolene-combination", "service_id": "order-sign",
         "indicator": "critical", "issued_at": FIXED_NOW}
    ]  # fmt: skip
    with Store(pg_url) as store:
        writer = BackgroundWriter(store)
        writer.submit(issued_cards, rows)
        writer.submit(issued_cards, rows)  # a repeat is ignored, like Store.record_cards
        assert writer.close(timeout=10)
        assert store.issued_card_count() == 1


def test_submit_never_waits_for_the_database(outage_url: str, own_postgres: PostgresServer) -> None:
    with Store(outage_url) as store:
        writer = BackgroundWriter(store, capacity=1000, interval=0.01, max_backoff=0.5)
        own_postgres.halt()
        started = time.monotonic()
        for i in range(200):
            writer.record_cards("order-sign", [card(f"w-{i}")], FIXED_NOW)
        elapsed = time.monotonic() - started
        assert elapsed < 0.5, f"200 submits took {elapsed:.2f} s with the database down"
        own_postgres.resume()
        assert writer.close(timeout=15)
        assert store.issued_card_count() == 200


def test_outage_keeps_what_fits_drops_the_rest_and_counts_both(
    outage_url: str, own_postgres: PostgresServer
) -> None:
    queued_before = sample("cds_background_rows_total", table="issued_cards", outcome="queued")
    dropped_before = sample("cds_background_rows_total", table="issued_cards", outcome="dropped")
    written_before = sample("cds_background_rows_total", table="issued_cards", outcome="written")
    failed_before = sample("cds_background_write_failures_total")
    with Store(outage_url) as store:
        writer = BackgroundWriter(store, capacity=300, batch_size=50, interval=0.01, max_backoff=0.3)
        writer.record_cards("order-sign", [card(f"before-{i}") for i in range(20)], FIXED_NOW)
        assert writer.flush(timeout=10)
        own_postgres.halt()
        accepted = sum(writer.record_cards("order-sign", [card(f"out-{i}")], FIXED_NOW) for i in range(500))
        assert accepted == 300  # the bound
        assert writer.dropped == 200
        time.sleep(1.0)  # the writer keeps failing and retrying meanwhile
        assert writer.pending == 300
        assert writer.failed_batches >= 1
        assert sample("cds_background_queue_depth") == 300
        own_postgres.resume()
        assert writer.flush(timeout=20), "queue not drained after the database returned"
        assert store.issued_card_count() == 20 + 300
        writer.close()
    assert sample("cds_background_rows_total", table="issued_cards", outcome="queued") - queued_before == 320
    assert (
        sample("cds_background_rows_total", table="issued_cards", outcome="dropped") - dropped_before == 200
    )
    assert (
        sample("cds_background_rows_total", table="issued_cards", outcome="written") - written_before == 320
    )
    assert sample("cds_background_write_failures_total") > failed_before


def test_close_flushes_what_is_queued(pg_url: str) -> None:
    with Store(pg_url) as store:
        writer = BackgroundWriter(store, interval=60.0)  # would wait a minute for a fuller batch
        writer.record_cards("order-sign", [card(f"s-{i}") for i in range(7)], FIXED_NOW)
        started = time.monotonic()
        assert writer.close(timeout=10)
        assert time.monotonic() - started < 5
        assert store.issued_card_count() == 7


def test_close_is_bounded_when_the_database_is_down(outage_url: str, own_postgres: PostgresServer) -> None:
    with Store(outage_url) as store:
        writer = BackgroundWriter(store, interval=0.01)
        own_postgres.halt()
        writer.record_cards("order-sign", [card("lost")], FIXED_NOW)
        started = time.monotonic()
        assert writer.close(timeout=1.0) is False  # no spool directory: the row is lost, and said so
        assert time.monotonic() - started < 5


def test_periodic_task_purges_expired_jtis(pg_url: str) -> None:
    with Store(pg_url) as store:
        past = datetime.now(UTC) - timedelta(minutes=1)
        for i in range(5):
            store.claim_jti(f"old-{i}", past, now=past - timedelta(minutes=5))
        store.claim_jti("alive", datetime.now(UTC) + timedelta(minutes=5))
        writer = BackgroundWriter(store)
        writer.every(0.1, store.purge_expired_jtis)
        deadline = time.monotonic() + 5
        while store.seen_jti_count() > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.seen_jti_count() == 1
        writer.close()


def test_store_starts_without_the_database_and_makes_the_schema_when_it_returns(
    own_postgres: PostgresServer,
) -> None:
    own_postgres.resume()
    url = own_postgres.create_database(f"late_{free_port()}")
    own_postgres.halt()
    try:
        with pytest.raises(StoreUnavailable):
            Store(url)  # without retry_in_background an unreachable database is an error
        started = time.monotonic()
        store = Store(url, retry_in_background=True)
        assert time.monotonic() - started < 5
        assert store.ping() is False and not store.schema_ready
        item = {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T13:00:00Z"}
        with pytest.raises(StoreUnavailable):
            store.store_feedback("order-sign", [item], FIXED_NOW)
        own_postgres.resume()
        deadline = time.monotonic() + 15
        while not store.schema_ready and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.schema_ready, "schema not created by the background retry"
        assert store.ping() is True
        store.close()
    finally:
        own_postgres.resume()


# -- jti: shared store first, per-process replay cache when it is unreachable ------------------------


class _Verifier(JwtVerifier):
    """Only the jti claim path of the real verifier (no config, keys or tokens needed)."""

    def __init__(self) -> None:  # noqa: D107 - the attributes `_claim` reads
        self.replay_cache = ReplayCache()
        self._degraded = False
        self._store_retry_at = 0.0
        self.on_degraded_claim = None


def test_jti_falls_back_to_the_replay_cache_and_shares_ids_later(
    outage_url: str, own_postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    degraded_before = sample("cds_jti_degraded_total")
    with Store(outage_url) as store:
        verifier = _Verifier()
        writer = BackgroundWriter(store, interval=0.01, max_backoff=0.3)
        verifier.on_degraded_claim = lambda key, at: writer.submit(seen_jti, [{"jti": key, "expires_at": at}])
        assert verifier._claim(store, "shared-1", expires) is True  # noqa: SLF001
        assert verifier._claim(store, "shared-1", expires) is False  # noqa: SLF001 - replay, from the store
        own_postgres.halt()
        assert verifier._claim(store, "outage-1", expires) is True  # noqa: SLF001
        assert verifier._claim(store, "outage-1", expires) is False  # noqa: SLF001 - replay, from the cache
        assert "replay protection is per process" in caplog.text
        assert sample("cds_jti_degraded_total") - degraded_before == 1  # the replay never reached the store
        own_postgres.resume()
        assert writer.flush(timeout=20)
        time.sleep(1.1)  # after a failure the store is left alone for a second (no per-call waits)
        # The id claimed during the outage reached the shared store: another replica refuses it.
        assert store.claim_jti("outage-1", expires) is False
        assert verifier._claim(store, "outage-1", expires) is False  # noqa: SLF001
        assert verifier._claim(store, "fresh", expires) is True  # noqa: SLF001
        assert "shared by every replica" in caplog.text
        writer.close()


def test_replay_cache_is_bounded_by_token_lifetime() -> None:
    cache = ReplayCache(max_entries=3)
    now = 1_000_000.0
    at = datetime.fromtimestamp(now + 60, UTC)
    assert cache.claim("a", at, now=now) and cache.claim("b", at, now=now) and cache.claim("c", at, now=now)
    assert cache.claim("a", at, now=now) is False  # replay
    assert cache.claim("d", at, now=now) is False  # full: refused (fail closed), not forgotten
    later = now + 61  # every token expired: the ids are dropped and the memory reused
    assert cache.claim("d", datetime.fromtimestamp(later + 60, UTC), now=later) is True
    assert len(cache) == 1


def test_replay_cache_is_thread_safe() -> None:
    cache = ReplayCache()
    at = datetime.now(UTC) + timedelta(minutes=5)
    wins: list[bool] = []
    barrier = threading.Barrier(16)

    def claim() -> None:
        barrier.wait()
        wins.append(cache.claim("same", at))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1


def test_a_lone_row_is_written_promptly_even_with_a_distant_periodic_task(pg_url: str) -> None:
    """The service registers an hourly-ish purge; a row must not wait for it."""
    with Store(pg_url) as store:
        writer = BackgroundWriter(store, interval=0.05)
        writer.every(600.0, store.purge_expired_jtis)
        time.sleep(0.2)  # the thread is idle, waiting for the task
        writer.record_cards("order-sign", [card("lone")], FIXED_NOW)
        deadline = time.monotonic() + 2
        while store.issued_card_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.issued_card_count() == 1
        writer.close()


def test_rows_left_at_shutdown_during_an_outage_are_spooled_for_the_next_writer(
    outage_url: str, own_postgres: PostgresServer, tmp_path: Any
) -> None:
    spool = tmp_path / "spool"
    with Store(outage_url) as store:
        writer = BackgroundWriter(store, interval=0.01, spool_dir=spool)
        own_postgres.halt()
        writer.record_cards("order-sign", [card(f"sp-{i}") for i in range(25)], FIXED_NOW)
        assert writer.close(timeout=1.0) is True  # nothing left behind: all 25 are in the spool
        assert len(list(spool.glob("rows-*.jsonl"))) == 1
        own_postgres.resume()
        successor = BackgroundWriter(store, interval=0.01, spool_dir=spool)  # the replacement worker
        successor.every(600.0, store.purge_expired_jtis)  # starts the thread, which picks the spool up
        assert successor.flush(timeout=15)
        assert store.issued_card_count() == 25
        assert not list(spool.iterdir())
        rows = store.report()["rules"]["baclofen-dantrolene-combination"]
        assert rows["issued"] == 25  # the issued_at times survived the round trip
        successor.close()


def test_the_writer_keeps_up_beside_a_busy_request_thread(tmp_path: Any) -> None:
    """A thread running Python without pause (a request thread under load) holds the GIL; a writer
    that released it once per row (the driver's executemany steps SQLite per row) waited up to the
    5 ms switch interval per row and fell behind until its queue overflowed. Multi-row statements
    keep 6,000 rows to a few waits."""
    store = Store(f"sqlite:///{tmp_path / 'busy.db'}")
    store.ensure_schema()
    writer = BackgroundWriter(store, capacity=10_000)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(1_000))

    spinner = threading.Thread(target=busy, daemon=True)
    spinner.start()
    try:
        for n in range(2_000):
            writer.record_cards("svc", [card(f"busy-{n}-{i}") for i in range(3)], FIXED_NOW)
        assert writer.flush(timeout=15.0), f"{writer.pending} rows still queued"
        assert writer.dropped == 0
        assert store.issued_card_count() == 6_000
    finally:
        stop.set()
        spinner.join()
        writer.close()
        store.close()


def test_a_batch_of_cards_and_jwt_ids_lands_in_each_table_s_own_sqlite_file(tmp_path: Any) -> None:
    """A SQLite file's JWT ids live in a file of their own (service/store/replay.py): the writer
    writes one batch holding both kinds of row through each table's engine."""
    from sqlalchemy import func, select

    expires = datetime.now(UTC) + timedelta(minutes=5)
    with Store(f"sqlite:///{tmp_path / 'cds.sqlite3'}") as store:
        writer = BackgroundWriter(store, interval=0.01)
        writer.submit(seen_jti, [{"jti": "queued-during-outage", "expires_at": expires}])
        writer.submit(issued_cards, issued_card_rows("svc", [card("u-1")], FIXED_NOW))
        assert writer.flush(timeout=10)
        writer.close()
        assert store.issued_card_count() == 1
        assert store.seen_jti_count() == 1
        assert store.claim_jti("queued-during-outage", expires) is False  # the shared claim holds it
        with store.engine.connect() as conn:  # the database's own table is not where ids go
            assert conn.execute(select(func.count()).select_from(seen_jti)).scalar_one() == 0
        assert (tmp_path / "cds.replay.sqlite3").exists()
