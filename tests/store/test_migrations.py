"""Alembic migrations (service/migrations/): the store runs `upgrade head` itself, on SQLite and on
PostgreSQL; the revisions give exactly the tables of service/store/schema.py; a database made by
`create_all` before migrations existed is adopted without losing a row; a newer one is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import Engine

from spasticity_cds.migrations import INITIAL_REVISION, head_revision
from spasticity_cds.migrations.initial_schema import initial_metadata
from spasticity_cds.store import SCHEMA_VERSION, Store, StoreError, issued_cards, metadata, schema_version
from tests.store.common import sqlite_url
from tests.support.postgres import PostgresServer, running_postgres

NOW = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sqlite_url(tmp_path) if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def test_a_fresh_database_is_migrated_to_head_matching_the_schema(url: str) -> None:
    with Store(url) as store:
        assert _revision(store.engine) == head_revision()
        assert _differences(store.engine) == []  # the revisions make exactly service/store/schema.py
        names = set(inspect(store.engine).get_table_names())
        assert {"issued_cards", "feedback", "seen_jti", "card_repeats", "alembic_version"} <= names
        indexes = {i["name"] for i in inspect(store.engine).get_indexes("issued_cards")}
        assert {"ix_issued_cards_issued_at", "ix_issued_cards_window"} <= indexes
    with Store(url) as again:  # reopening is a no-op
        assert _revision(again.engine) == head_revision()


def _legacy_database(url: str, *, with_card_repeats: bool) -> None:
    """What the service before migrations left: create_all of its tables, a schema_version row and
    data, no alembic_version."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    try:
        legacy = initial_metadata()
        if not with_card_repeats:  # created lazily by service/repeats.py in those versions
            legacy.remove(legacy.tables["card_repeats"])
        # An index added late (it did not exist in the first databases).
        legacy.tables["issued_cards"].indexes = {
            i for i in legacy.tables["issued_cards"].indexes if i.name != "ix_issued_cards_window"
        }
        with engine.begin() as conn:
            legacy.create_all(conn)
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION, applied_at=NOW))
            conn.execute(
                issued_cards.insert().values(
                    uuid="u-1", rule_id="r", service_id="s", indicator="warning", issued_at=NOW
                )
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("with_card_repeats", [True, False])
def test_a_database_made_before_migrations_is_adopted(url: str, with_card_repeats: bool) -> None:
    _legacy_database(url, with_card_repeats=with_card_repeats)
    with Store(url) as store:
        assert _revision(store.engine) == head_revision()
        assert _differences(store.engine) == []  # missing table and index made, nothing else
        assert store.issued_card_count() == 1  # no row lost
        with store.engine.connect() as conn:
            assert conn.execute(select(schema_version.c.version)).scalars().all() == [SCHEMA_VERSION]


def test_the_initial_revision_is_the_first(url: str) -> None:
    assert INITIAL_REVISION == "0001_initial"
    with Store(url) as store:
        with store.engine.connect() as conn:
            history = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert history == [head_revision()]


def test_a_revision_unknown_to_this_code_is_refused(url: str) -> None:
    with Store(url) as store:
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(StoreError, match="9999_from_the_future"):
        Store(url)


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this module's own, so halting it cannot disturb other tests."""
    with running_postgres() as server:
        yield server


def test_migration_runs_in_the_background_once_the_database_answers(own_postgres: PostgresServer) -> None:
    """A worker boots while PostgreSQL is down; `upgrade head` runs as soon as it is back."""
    url = own_postgres.create_database("migrate_later")
    own_postgres.halt()
    try:
        started = time.monotonic()
        store = Store(url, retry_in_background=True)
        assert time.monotonic() - started < 5  # the worker is not held up by the migration
        assert store.schema_ready is False
    finally:
        own_postgres.resume()
    try:
        deadline = time.monotonic() + 30
        while not store.schema_ready and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.schema_ready
        assert _revision(store.engine) == head_revision()
        assert _differences(store.engine) == []
    finally:
        store.close()


def _database_at_0001_with_data(url: str, seed: int) -> None:
    """A database the 0001 service wrote: its tables, a schema_version row of 1, and random cards
    and feedback written the way that code wrote them (insert-or-ignore; a feedback item takes the
    rule of its card when the card was already recorded)."""
    import random

    from alembic import command

    from spasticity_cds.migrations import alembic_config
    from spasticity_cds.store import dialect_insert, feedback, feedback_row, issued_card_rows
    from tests.store.test_report_summaries import random_operations

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), INITIAL_REVISION)
            conn.execute(schema_version.insert().values(version=1, applied_at=NOW))
        dialect = engine.dialect.name
        for kind, payload in random_operations(random.Random(seed), cards=120, items=300):
            with engine.begin() as conn:
                if kind == "cards":
                    rows = issued_card_rows(*payload)
                    conn.execute(dialect_insert(dialect, issued_cards).on_conflict_do_nothing(), rows)
                    continue
                service, items = payload
                for item in items:
                    row = feedback_row(service, item, NOW)
                    known = select(issued_cards.c.rule_id).where(issued_cards.c.uuid == row["card_uuid"])
                    row["rule_id"] = conn.execute(known).scalar()
                    conn.execute(dialect_insert(dialect, feedback).values(row).on_conflict_do_nothing())
    finally:
        engine.dispose()


def test_upgrading_a_0001_database_with_data_gives_the_same_report(url: str) -> None:
    from tests.store.exact_report import exact_breakdown, fast_breakdown
    from tests.store.test_report_summaries import windows

    _database_at_0001_with_data(url, seed=5)
    with Store(url) as store:
        assert _revision(store.engine) == head_revision()
        assert _differences(store.engine) == []
        with store.engine.connect() as conn:  # older services that read it now refuse the database
            assert conn.execute(select(schema_version.c.version)).scalars().all() == [1, SCHEMA_VERSION]
        report = store.report()
        assert report["rules"] and report["unattributed_feedback"] > 0
        import random

        since_list = windows(random.Random(5))
        for since in since_list:
            assert fast_breakdown(store, since) == exact_breakdown(store, since), since
        # Writing on from the backfilled summaries stays exact (late cards, re-feedback).
        store.record_cards("svc-1", [{"uuid": "stranger-1", "source": {"topic": {"code": "rule-a"}}}], NOW)
        item = {"card": "card-3", "outcome": "accepted", "outcomeTimestamp": "2026-11-21T15:00:00Z"}
        store.store_feedback("svc-2", [item], NOW)
        for since in since_list:
            assert fast_breakdown(store, since) == exact_breakdown(store, since), since
