"""The jti claim on the DBAPI connection: same rows as SQLAlchemy writes, errors mapped, no lock kept.

`ReplayStore.claim_jti` runs SQL that SQLAlchemy compiled once, on a pooled driver connection (the
hot statement of every authenticated call). These tests pin what that must not change: the stored
`expires_at` is exactly what the SQLAlchemy paths (purge, reads) compare against, a busy or dead
database is `StoreUnavailable` (the verifier's outage fallback), and in SQLite the claim has
committed and released the write lock when it returns.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from spasticity_cds.store import Store, StoreUnavailable, seen_jti
from spasticity_cds.store import connection as store_connection
from spasticity_cds.store import schema as store_schema
from spasticity_cds.store.replay import replay_file
from tests.store.common import FIXED_NOW, sqlite_url


def test_claim_stores_expiry_as_sqlalchemy_reads_and_compares_it(store: Store) -> None:
    expires = FIXED_NOW + timedelta(minutes=5, microseconds=123456)
    on_the_second = FIXED_NOW + timedelta(minutes=7)  # no microseconds: SQLite's text must still sort
    assert store.claim_jti("a", expires, now=FIXED_NOW)
    assert store.claim_jti("b", on_the_second, now=FIXED_NOW)
    with store.replay_engine.connect() as conn:
        rows = dict(conn.execute(select(seen_jti.c.jti, seen_jti.c.expires_at)).all())
        assert rows == {"a": expires, "b": on_the_second}
        # The purge's comparison (SQLAlchemy binds `now`) sees the same instants as the claim's.
        live = conn.execute(select(seen_jti.c.jti).where(seen_jti.c.expires_at > expires)).scalars().all()
        assert live == ["b"]
    assert store.purge_expired_jtis(now=expires) == 1
    assert not store.claim_jti("b", on_the_second, now=expires)
    assert store.claim_jti("a", on_the_second, now=expires)  # purged: claimable again


def test_an_expired_claim_is_taken_over_with_the_new_expiry(store: Store) -> None:
    assert store.claim_jti("x", FIXED_NOW, now=FIXED_NOW - timedelta(minutes=1))
    later = FIXED_NOW + timedelta(minutes=10)
    assert store.claim_jti("x", later, now=FIXED_NOW)  # the stored claim expired at FIXED_NOW
    assert not store.claim_jti("x", later, now=FIXED_NOW + timedelta(minutes=9))
    with store.replay_engine.connect() as conn:
        assert conn.execute(select(seen_jti.c.expires_at)).scalar_one() == later


def test_sqlite_claim_has_committed_and_released_the_write_lock(tmp_path: Path) -> None:
    with Store(sqlite_url(tmp_path)) as store:
        assert store.claim_jti("committed", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        other = sqlite3.connect(store.replay_engine.url.database or "", timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # would raise "database is locked" if the claim held it
            assert other.execute("SELECT jti FROM seen_jti").fetchall() == [("committed",)]
            other.execute("ROLLBACK")
        finally:
            other.close()


def test_sqlite_busy_past_the_timeout_is_unavailable_then_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_connection, "SQLITE_BUSY_TIMEOUT_MS", 100)  # the engine's connections
    monkeypatch.setattr(store_schema, "SQLITE_BUSY_TIMEOUT_MS", 100)  # how long a claim waits
    with Store(sqlite_url(tmp_path)) as store:
        holder = sqlite3.connect(store.replay_engine.url.database or "", isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StoreUnavailable):
                store.claim_jti("blocked", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        # The pooled connection is usable again and nothing was recorded by the failed claim.
        assert store.claim_jti("blocked", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        assert not store.claim_jti("blocked", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)


def test_postgresql_connection_killed_under_the_pool_is_replaced(pg_url: str) -> None:
    with Store(pg_url) as store:
        assert store.claim_jti("before", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        with Store(pg_url) as admin, admin.engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            conn.commit()
        # The pool's pre-ping sees the dead connection and opens a new one: no error, one claim.
        assert store.claim_jti("after", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        assert not store.claim_jti("after", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)


def test_unreachable_postgresql_is_unavailable() -> None:
    store = Store("postgresql+psycopg://postgres@127.0.0.1:9/none", retry_in_background=True)
    try:
        with pytest.raises(StoreUnavailable):
            store.claim_jti("x", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
    finally:
        store.close()


def test_claims_from_many_threads_on_one_store_each_win_once(store: Store) -> None:
    """40 threads, 10 ids, one pool: every id is won exactly once (no lost or doubled claims)."""
    barrier = threading.Barrier(40)
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def claim(index: int) -> None:
        jti = f"id-{index % 10}"
        barrier.wait()
        won = store.claim_jti(jti, FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        with lock:
            results.append((jti, won))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(jti for jti, won in results if won) == [f"id-{i}" for i in range(10)]


def test_sqlite_claim_waits_for_a_writer_in_short_steps_and_restores_the_busy_timeout(
    tmp_path: Path,
) -> None:
    """A claim that finds the write lock taken gets it soon after it is freed, not at SQLite's
    next busy-handler step; and its pooled connection keeps the configured busy timeout."""
    with Store(sqlite_url(tmp_path)) as store:
        assert store.claim_jti("warm", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        holder = sqlite3.connect(
            store.replay_engine.url.database or "", isolation_level=None, check_same_thread=False
        )
        holder.execute("BEGIN IMMEDIATE")
        released_at: list[float] = []

        def release() -> None:
            time.sleep(0.055)
            released_at.append(time.monotonic())
            holder.execute("ROLLBACK")

        releaser = threading.Thread(target=release)
        releaser.start()
        try:
            assert store.claim_jti("waited", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
            claimed_at = time.monotonic()
        finally:
            releaser.join()
            holder.close()
        assert claimed_at - released_at[0] < 0.015  # SQLite's own handler: at 78 ms, 23 ms late
        with store.replay_engine.connect() as conn:
            timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
        assert timeout == store_connection.SQLITE_BUSY_TIMEOUT_MS


def test_sqlite_claims_reuse_a_few_connections_of_their_own(tmp_path: Path) -> None:
    with Store(sqlite_url(tmp_path)) as store:
        for i in range(20):
            assert store.claim_jti(f"seq-{i}", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        claims = store._nowait_connections()
        assert claims is not None and len(claims._idle) == 1  # one caller at a time: one connection
        [connection] = claims._idle
        assert connection.execute("PRAGMA busy_timeout").fetchone() == (0,)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL


def test_in_memory_sqlite_claims_on_its_one_shared_connection() -> None:
    with Store("sqlite://") as store:
        assert store.replay_engine is store.engine  # one shared connection is the whole database
        assert store._nowait_connections() is None
        assert store.claim_jti("m", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        assert not store.claim_jti("m", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        assert store.seen_jti_count() == 1


def test_many_threads_opening_claim_connections_at_once_never_fail(tmp_path: Path) -> None:
    """20 threads each opening a claim connection at the same moment, on fresh stores: a new
    connection's first read can meet a brief SQLITE_BUSY in WAL mode, which must be waited out."""
    for trial in range(5):
        with Store(sqlite_url(tmp_path / str(trial))) as store:
            assert store.claim_jti("stale", FIXED_NOW, now=FIXED_NOW - timedelta(minutes=1))
            barrier = threading.Barrier(20)

            def claim(_: int, store: Store = store, barrier: threading.Barrier = barrier) -> bool:
                barrier.wait()
                return store.claim_jti("stale", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)

            with ThreadPoolExecutor(max_workers=20) as pool:
                results = list(pool.map(claim, range(20)))
            assert results.count(True) == 1


def test_sqlite_file_claims_live_in_a_file_of_their_own(tmp_path: Path) -> None:
    """SQLite has one write lock per file: the claims have their own file beside the database, so
    they never queue behind the background writer's card batches. The database's own `seen_jti`
    (made by the migrations, used by PostgreSQL) stays empty."""
    with Store(sqlite_url(tmp_path)) as store:
        database = Path(store.engine.url.database or "")
        assert store.claim_jti("own-file", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        claims_file = Path(store.replay_engine.url.database or "")
        assert claims_file == Path(replay_file(str(database)))
        assert claims_file.parent == database.parent and claims_file != database
        assert claims_file.name == database.stem + ".replay" + database.suffix
        assert store.engine_for(seen_jti) is store.replay_engine
        assert store.seen_jti_count() == 1
        with store.engine.connect() as conn:
            assert conn.execute(select(seen_jti.c.jti)).all() == []


def test_sqlite_claim_does_not_wait_for_a_write_on_the_database(tmp_path: Path) -> None:
    """A write transaction held on the database file (as the background writer holds one while it
    records a batch of cards) does not delay a claim: before the claims had their own file, this
    claim waited until the holder let go."""
    with Store(sqlite_url(tmp_path)) as store:
        assert store.claim_jti("warm", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
        holder = sqlite3.connect(store.engine.url.database or "", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            assert store.claim_jti("not-queued", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
            assert time.monotonic() - started < 1.0  # the holder keeps the lock for the whole test
        finally:
            holder.execute("ROLLBACK")
            holder.close()


def test_closing_the_store_closes_the_claims_file(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path))
    assert store.claim_jti("x", FIXED_NOW + timedelta(minutes=5), now=FIXED_NOW)
    claims = store._nowait_connections()
    assert claims is not None and claims._idle
    idle = list(claims._idle)
    store.close()
    assert not claims._idle
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        idle[0].execute("SELECT 1")


def test_postgresql_claims_stay_in_the_database(pg_url: str) -> None:
    with Store(pg_url) as store:
        assert store.replay_engine is store.engine  # row locks: nothing to keep apart
        assert store.engine_for(seen_jti) is store.engine


def test_claims_alive_in_the_database_are_carried_into_the_new_claims_file(tmp_path: Path) -> None:
    """Releases before the claims file kept the ids in the database's own table: a token accepted
    just before the upgrade must stay refused after it; an expired id is not carried over."""
    now = datetime.now(UTC)
    with Store(sqlite_url(tmp_path)) as old:  # what the previous release left in the database
        with old.engine.begin() as conn:
            conn.execute(
                seen_jti.insert(),
                [{"jti": "accepted-before", "expires_at": now + timedelta(minutes=5)},
                 {"jti": "long-expired", "expires_at": now - timedelta(minutes=5)}],
            )  # fmt: skip
    with Store(sqlite_url(tmp_path)) as store:
        assert not Path(replay_file(str(store.engine.url.database))).exists()
        assert store.claim_jti("accepted-before", now + timedelta(minutes=5)) is False  # a replay
        assert store.claim_jti("long-expired", now + timedelta(minutes=5)) is True
        assert store.seen_jti_count() == 2
    with Store(sqlite_url(tmp_path)) as again:  # the file exists: nothing is copied a second time
        with again.engine.begin() as conn:
            later = now + timedelta(minutes=5)
            conn.execute(seen_jti.insert(), [{"jti": "written-by-a-downgrade", "expires_at": later}])
        assert again.claim_jti("written-by-a-downgrade", now + timedelta(minutes=5)) is True
