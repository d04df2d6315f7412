"""The store on SQLite and on a real PostgreSQL: round trips, duplicates, JWT ids, the report."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, inspect, select, update

from spasticity_cds.store import (
    REPORT_COUNTING,
    SCHEMA_VERSION,
    Store,
    StoreError,
    issued_cards,
    parse_timestamp,
    schema_version,
    seen_jti,
)
from tests.store.common import FIXED_NOW, sqlite_url

BACLOFEN_DANTROLENE = "baclofen-dantrolene-combination"
TIZANIDINE_CIPRO = "tizanidine-ciprofloxacin"
REASON_SYSTEM = "https://spasticity-cds.example.org/override-reason"


def card(uuid: str, rule_id: str, indicator: str = "warning") -> dict[str, Any]:
    return {
        "uuid": uuid,
        "summary": "Baclofen with dantrolene: additive CNS depression",
        "indicator": indicator,
        "source": {"label": "spasticity-cds", "topic": {"code": rule_id, "system": REASON_SYSTEM}},
        "detail": "Patient John Doe, MRN 12345",  # must never reach the database
    }


def accepted(card_uuid: str, at: str, suggestion: str = "s-1") -> dict[str, Any]:
    return {
        "card": card_uuid,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": suggestion}],
        "outcomeTimestamp": at,
    }


def overridden(
    card_uuid: str, at: str, code: str | None = None, display: str | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": at}
    if code is not None:
        reason = {"code": code, "system": REASON_SYSTEM}
        if display is not None:
            reason["display"] = display
        item["overrideReason"] = {"reason": reason}
    return item


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- schema ----------------------------------------------------------------------------------------


def test_tables_hold_no_patient_identifiers(store: Store) -> None:
    columns = {c["name"] for c in inspect(store.engine).get_columns("issued_cards")}
    assert columns == {"uuid", "rule_id", "service_id", "indicator", "issued_at"}
    store.record_cards("order-sign", [card("c-1", BACLOFEN_DANTROLENE)], FIXED_NOW)
    with store.engine.connect() as conn:
        dumped = " ".join(str(v) for v in conn.execute(select(issued_cards)).one())
    assert "Doe" not in dumped and "12345" not in dumped


def test_schema_version_recorded_and_reopening_is_idempotent(store: Store) -> None:
    store.record_cards("order-sign", [card("c-1", BACLOFEN_DANTROLENE)], FIXED_NOW)
    with Store(store.url) as again:
        assert again.report()["rules"][BACLOFEN_DANTROLENE]["issued"] == 1
        with again.engine.connect() as conn:
            assert conn.execute(select(schema_version.c.version)).scalars().all() == [SCHEMA_VERSION]


def test_newer_schema_version_is_refused(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(schema_version).values(version=SCHEMA_VERSION + 1))
    with pytest.raises(StoreError, match="newer"):
        Store(store.url)


def test_stores_created_concurrently_on_a_fresh_database(store: Store) -> None:
    """Gunicorn workers start together and each creates the tables; none may fail."""
    store.close()
    with store.engine.begin() as conn:  # every table, the migrations' alembic_version included
        existing = MetaData()
        existing.reflect(conn)
        existing.drop_all(conn)
    store.close()
    with ThreadPoolExecutor(max_workers=6) as pool:
        stores = list(pool.map(lambda _: Store(store.url), range(6)))
    try:
        with stores[0].engine.connect() as conn:
            assert conn.execute(select(schema_version.c.version)).scalars().all() == [SCHEMA_VERSION]
    finally:
        for instance in stores:
            instance.close()


def test_sqlite_creates_its_directory_and_uses_wal(tmp_path: Path) -> None:
    with Store(sqlite_url(tmp_path)) as store:
        assert (tmp_path / "data" / "cds.sqlite3").is_file()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(StoreError, match="unsupported"):
        Store("mysql+pymysql://user@127.0.0.1/x")


# -- feedback --------------------------------------------------------------------------------------


def test_feedback_round_trip(store: Store) -> None:
    cards = [card("c-1", BACLOFEN_DANTROLENE), card("c-2", BACLOFEN_DANTROLENE)]
    store.record_cards("order-sign", cards, FIXED_NOW)
    items = [
        accepted("c-1", "2026-11-21T13:49:48.706Z", suggestion="sugg-9"),
        {
            "card": "c-2",
            "outcome": "overridden",
            "overrideReason": {
                "reason": {"code": "benefit", "system": REASON_SYSTEM, "display": "Benefit outweighs risk"},
                "userComment": "discussed with neurology",
            },
            "outcomeTimestamp": "2026-11-21T15:50:00+02:00",
        },
    ]
    assert store.store_feedback("order-sign", items, FIXED_NOW) == 2
    first, second = store.feedback_items()
    assert first["card_uuid"] == "c-1" and first["outcome"] == "accepted"
    assert first["accepted_suggestions"] == ["sugg-9"]
    assert first["rule_id"] == BACLOFEN_DANTROLENE and first["service_id"] == "order-sign"
    assert first["outcome_at"] == datetime(2026, 11, 21, 13, 49, 48, 706000, tzinfo=UTC)
    assert first["received_at"] == FIXED_NOW
    assert second["override_code"] == "benefit" and second["override_system"] == REASON_SYSTEM
    assert second["override_display"] == "Benefit outweighs risk"
    assert second["user_comment"] == "discussed with neurology"
    assert second["outcome_at"] == datetime(2026, 11, 21, 13, 50, tzinfo=UTC)  # stored as UTC
    assert second["accepted_suggestions"] == []


def test_repeated_feedback_item_is_stored_once(store: Store) -> None:
    item = accepted("c-1", "2026-11-21T13:49:48.706Z")
    same_instant_other_offset = accepted("c-1", "2026-11-21T14:49:48.706+01:00")
    assert store.store_feedback("order-sign", [item, item], FIXED_NOW) == 1
    assert store.store_feedback("order-sign", [item, same_instant_other_offset], FIXED_NOW) == 0
    # A different time or outcome for the same card is a different item.
    assert store.store_feedback("order-sign", [accepted("c-1", "2026-11-21T13:49:49Z")], FIXED_NOW) == 1
    assert store.store_feedback("order-sign", [overridden("c-1", "2026-11-21T13:49:48.706Z")], FIXED_NOW) == 1
    assert store.feedback_count() == 3


def test_feedback_for_unknown_card_is_kept_unattributed(store: Store) -> None:
    item = overridden("never-issued", "2026-11-21T10:00:00Z", "x")
    assert store.store_feedback("order-select", [item], FIXED_NOW) == 1
    (stored,) = store.feedback_items()
    assert stored["rule_id"] is None
    assert store.report()["unattributed_feedback"] == 1


def test_large_batch_is_chunked(store: Store) -> None:
    cards = [card(f"c-{i}", BACLOFEN_DANTROLENE) for i in range(1200)]
    store.record_cards("order-sign", cards, FIXED_NOW)
    items = [accepted(f"c-{i}", "2026-11-21T13:00:00Z") for i in range(1200)]
    assert store.store_feedback("order-sign", items, FIXED_NOW) == 1200
    assert store.report()["rules"][BACLOFEN_DANTROLENE]["accepted"] == 1200


def test_cards_without_uuid_or_rule_are_not_recorded(store: Store) -> None:
    store.record_cards(
        "order-sign",
        [
            {"summary": "no uuid", "source": {"topic": {"code": "r"}}},
            {"uuid": "c-9", "source": {"label": "no topic"}},
        ],
        FIXED_NOW,
    )
    store.record_cards("order-sign", [card("c-1", "r"), card("c-1", "other")], FIXED_NOW)  # first one wins
    assert store.report()["rules"] == {
        "r": {"issued": 1, "accepted": 0, "overridden": 0, "acceptance_rate": 0.0, "top_override_reasons": []}
    }


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive"):
        store.record_cards("order-sign", [card("c-1", "r")], datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T13:49:48.706Z", datetime(2026, 11, 21, 13, 49, 48, 706000, tzinfo=UTC)),
        ("2026-11-21t13:49:48z", datetime(2026, 11, 21, 13, 49, 48, tzinfo=UTC)),
        ("2026-11-21T08:49:48-05:00", datetime(2026, 11, 21, 13, 49, 48, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["2026-11-21T13:49:48", "2026-11-21", "yesterday", "2026-13-01T00:00:00Z"])
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


# -- JWT ids ---------------------------------------------------------------------------------------


def test_claim_jti_refuses_replay_until_expiry(store: Store) -> None:
    expires = FIXED_NOW + timedelta(minutes=5)
    assert store.claim_jti("jti-1", expires, now=FIXED_NOW) is True
    assert store.claim_jti("jti-1", expires, now=FIXED_NOW) is False
    assert store.claim_jti("jti-1", expires, now=FIXED_NOW + timedelta(minutes=4)) is False
    assert store.claim_jti("jti-2", expires, now=FIXED_NOW) is True
    # Once expired, the id may be claimed again (a token with it would be refused on `exp` anyway).
    later = FIXED_NOW + timedelta(minutes=6)
    assert store.claim_jti("jti-1", later + timedelta(minutes=5), now=later) is True
    assert store.claim_jti("jti-1", later + timedelta(minutes=5), now=later) is False


def test_expired_ids_are_purged_in_the_background_not_by_each_claim(store: Store) -> None:
    for i in range(10):
        assert store.claim_jti(f"old-{i}", FIXED_NOW + timedelta(seconds=i), now=FIXED_NOW)
    later = FIXED_NOW + timedelta(hours=1)
    assert store.claim_jti("fresh", later + timedelta(minutes=5), now=later)
    assert store.seen_jti_count() == 11  # a claim costs one statement: no purge on the way
    assert store.purge_expired_jtis(now=later) == 10  # what the writer thread runs periodically
    with store.replay_engine.connect() as conn:
        assert conn.execute(select(seen_jti.c.jti)).scalars().all() == ["fresh"]


def test_claim_jti_default_clock_is_now(store: Store) -> None:
    assert store.claim_jti("live", datetime.now(UTC) + timedelta(minutes=5)) is True
    assert store.claim_jti("live", datetime.now(UTC) + timedelta(minutes=5)) is False


def test_concurrent_claims_exactly_one_wins(store: Store) -> None:
    """20 threads, two separate connection pools (as two workers would have), one jti."""
    other = Store(store.url)
    barrier = threading.Barrier(20)
    expires = datetime.now(UTC) + timedelta(minutes=5)

    def claim(index: int) -> bool:
        instance = store if index % 2 else other
        barrier.wait()
        return instance.claim_jti("contested", expires)

    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(claim, range(20)))
    finally:
        other.close()
    assert results.count(True) == 1
    assert results.count(False) == 19


def test_concurrent_claims_of_an_expired_id_exactly_one_wins(store: Store) -> None:
    assert store.claim_jti("stale", FIXED_NOW, now=FIXED_NOW - timedelta(minutes=1))
    barrier = threading.Barrier(20)
    expires = datetime.now(UTC) + timedelta(minutes=5)

    def claim(_: int) -> bool:
        barrier.wait()
        return store.claim_jti("stale", expires)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(claim, range(20)))
    assert results.count(True) == 1


# -- report ----------------------------------------------------------------------------------------


def test_report_counts_match_the_feedback_sent(store: Store) -> None:
    t0 = FIXED_NOW - timedelta(days=1)
    store.record_cards("order-sign", [card(f"bd-{i}", BACLOFEN_DANTROLENE) for i in range(1, 6)], t0)
    store.record_cards("order-select", [card(f"tc-{i}", TIZANIDINE_CIPRO, "critical") for i in (1, 2)], t0)
    sent = [
        accepted("bd-1", iso(t0 + timedelta(minutes=1))),
        accepted("bd-1", iso(t0 + timedelta(minutes=1))),  # a retry: stored once
        accepted("bd-1", iso(t0 + timedelta(minutes=2)), "s-2"),  # second suggestion: same card
        accepted("bd-2", iso(t0 + timedelta(minutes=3))),
        overridden("bd-3", iso(t0 + timedelta(minutes=4)), "benefit", "Benefit outweighs risk"),
        overridden("bd-4", iso(t0 + timedelta(minutes=5)), "monitored"),
        # bd-5 ignored: no feedback, as the spec says
        overridden("tc-1", iso(t0 + timedelta(minutes=6)), "benefit", "Benefit outweighs risk"),
        overridden("nobody-issued-this", iso(t0 + timedelta(minutes=7)), "other"),
    ]
    assert store.store_feedback("order-sign", sent, FIXED_NOW) == 7
    report = store.report(now=FIXED_NOW)

    assert report["since"] is None
    assert report["generated_at"] == "2026-11-21T14:00:00Z"
    assert report["unattributed_feedback"] == 1
    bd = report["rules"][BACLOFEN_DANTROLENE]
    assert (bd["issued"], bd["accepted"], bd["overridden"]) == (5, 2, 2)
    assert bd["acceptance_rate"] == pytest.approx(0.4)
    assert bd["top_override_reasons"] == [
        {"code": "benefit", "system": REASON_SYSTEM, "display": "Benefit outweighs risk", "count": 1},
        {"code": "monitored", "system": REASON_SYSTEM, "display": None, "count": 1},
    ]
    tc = report["rules"][TIZANIDINE_CIPRO]
    assert (tc["issued"], tc["accepted"], tc["overridden"], tc["acceptance_rate"]) == (2, 0, 1, 0.0)
    assert list(report["rules"]) == sorted(report["rules"])


def test_report_top_reasons_ranked_and_capped_at_five(store: Store) -> None:
    store.record_cards("order-sign", [card(f"c-{i}", BACLOFEN_DANTROLENE) for i in range(30)], FIXED_NOW)
    counts = {"a": 1, "b": 6, "c": 2, "d": 5, "e": 3, "f": 4, "g": 1}
    items, n = [], 0
    for code, count in counts.items():
        for _ in range(count):
            items.append(overridden(f"c-{n}", "2026-11-21T12:00:00Z", code))
            n += 1
    store.store_feedback("order-sign", items, FIXED_NOW)
    reasons = store.report()["rules"][BACLOFEN_DANTROLENE]["top_override_reasons"]
    assert [(r["code"], r["count"]) for r in reasons] == [("b", 6), ("d", 5), ("f", 4), ("e", 3), ("c", 2)]


def test_report_since_filters_issued_by_issue_time_and_feedback_by_outcome_time(store: Store) -> None:
    old, recent = FIXED_NOW - timedelta(days=30), FIXED_NOW - timedelta(days=1)
    store.record_cards(
        "order-sign", [card("old-1", BACLOFEN_DANTROLENE), card("old-2", TIZANIDINE_CIPRO)], old
    )
    store.record_cards("order-sign", [card("new-1", BACLOFEN_DANTROLENE)], recent)
    store.store_feedback(
        "order-sign",
        [
            overridden("old-1", iso(old + timedelta(minutes=1)), "early"),
            overridden("old-2", iso(recent), "late"),  # card issued before the window, feedback inside
            accepted("new-1", iso(recent + timedelta(minutes=1))),
            overridden("unknown", iso(old), "x"),
        ],
        FIXED_NOW,
    )
    since = FIXED_NOW - timedelta(days=7)
    report = store.report(since)
    assert report["since"] == iso(since)
    assert report["rules"][BACLOFEN_DANTROLENE] == {
        "issued": 1, "accepted": 1, "overridden": 0, "acceptance_rate": 1.0, "top_override_reasons": [],
    }  # fmt: skip
    # A rule with feedback but no cards issued in the window still appears.
    tc = report["rules"][TIZANIDINE_CIPRO]
    assert (tc["issued"], tc["overridden"], tc["acceptance_rate"]) == (0, 1, None)
    assert [r["code"] for r in tc["top_override_reasons"]] == ["late"]
    assert report["unattributed_feedback"] == 0
    assert store.report()["unattributed_feedback"] == 1


def test_report_empty_database(store: Store) -> None:
    report = store.report(now=FIXED_NOW)
    assert report == {
        "since": None, "generated_at": "2026-11-21T14:00:00Z", "rules": {}, "unattributed_feedback": 0,
        "counting": REPORT_COUNTING,
    }  # fmt: skip


def test_report_since_accepts_other_time_zones(store: Store) -> None:
    store.record_cards("order-sign", [card("c-1", BACLOFEN_DANTROLENE)], FIXED_NOW)
    plus_two = timezone(timedelta(hours=2))
    assert store.report(FIXED_NOW.astimezone(plus_two))["rules"][BACLOFEN_DANTROLENE]["issued"] == 1
    later = (FIXED_NOW + timedelta(seconds=1)).astimezone(plus_two)
    assert store.report(later)["rules"] == {}


def test_ping(store: Store) -> None:
    assert store.ping() is True


def test_ping_reports_an_unreachable_database(sqlite_store: Store) -> None:
    from sqlalchemy import create_engine

    from tests.support.postgres import free_port

    sqlite_store.close()
    sqlite_store.engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    try:
        assert sqlite_store.ping() is False
    finally:
        sqlite_store.engine.dispose()
