"""The report summaries (service/store/summaries.py) give exactly what the exact SQL gives.

`Store.report_breakdown(since)` (the report, per service, per day) is compared with the SQL the
service used before it kept summaries (tests/store/exact_report.py) over random cards and feedback
written in random order: re-feedback, outcome times out of order and tied, repeated items, cards
recorded twice, feedback on cards never recorded or recorded only later (as the background writer
does after an outage, with old issue times), reasons with and without system and display; and
windows that start mid-day, at midnight, in the future, and all time. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func

from spasticity_cds.store import Store, card_outcomes, feedback, issued_cards, metadata
from spasticity_cds.store.report import window_days
from spasticity_cds.writer import BackgroundWriter
from tests.store.common import FIXED_NOW, sqlite_url
from tests.store.exact_report import exact_breakdown, fast_breakdown

RULES = ("rule-a", "rule-b", "rule-c")
SERVICES = ("svc-1", "svc-2")
CODES = ("too-old", "other-indication", "tried-before")
SYSTEMS = (None, "http://example.org/own", "http://example.org/other")
DISPLAYS = (None, "Alpha", "beta", "Ünïcode")
NOW = FIXED_NOW  # 14:00 UTC: windows of whole days start mid-day


def card(uuid: str, rule_id: str) -> dict[str, Any]:
    return {"uuid": uuid, "indicator": "warning", "source": {"topic": {"code": rule_id}}}


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def item(uuid: str, outcome: str, at: datetime, reason: tuple[Any, ...] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"card": uuid, "outcome": outcome, "outcomeTimestamp": stamp(at)}
    if reason is not None:
        system, code, display = reason
        coding = {
            "code": code,
            **({"system": system} if system else {}),
            **({"display": display} if display else {}),
        }
        entry["overrideReason"] = {"reason": coding}
    return entry


def random_operations(rng: random.Random, cards: int, items: int) -> list[tuple[str, Any]]:
    """("cards", (service, [card...], issued_at)) and ("feedback", (service, [item...])) in random
    order: feedback often comes before its card, some uuids are recorded twice (with another rule:
    the first row must win), some never; outcome times repeat to make ties."""
    operations: list[tuple[str, Any]] = []
    uuids = [f"card-{n}" for n in range(cards)]
    minutes = [rng.randrange(-14 * 24 * 60, 60) for _ in range(max(3, cards // 3))]  # shared: ties
    for uuid in uuids:
        if rng.random() < 0.1:
            continue  # never recorded: its feedback stays unattributed
        for _ in range(2 if rng.random() < 0.1 else 1):
            at = NOW + timedelta(minutes=rng.choice(minutes), seconds=rng.randrange(60))
            operations.append(("cards", (rng.choice(SERVICES), [card(uuid, rng.choice(RULES))], at)))
    for _ in range(items):
        uuid = rng.choice(uuids + ["stranger-1", "stranger-2"])
        outcome = rng.choice(("accepted", "overridden", "overridden"))
        at = NOW + timedelta(minutes=rng.choice(minutes))
        reason = None
        if outcome == "overridden" and rng.random() < 0.8:
            reason = (rng.choice(SYSTEMS), rng.choice(CODES), rng.choice(DISPLAYS))
        operations.append(("feedback", (rng.choice(SERVICES), [item(uuid, outcome, at, reason)])))
    rng.shuffle(operations)
    # Some writes in batches (one transaction for several cards / items, repeats inside a batch).
    merged: list[tuple[str, Any]] = []
    for kind, payload in operations:
        if merged and merged[-1][0] == kind == "feedback" and rng.random() < 0.5:
            merged[-1][1][1].extend(payload[1])
        else:
            merged.append((kind, payload))
    return merged


def apply(store: Store, operations: list[tuple[str, Any]], writer: BackgroundWriter | None = None) -> None:
    for kind, payload in operations:
        if kind == "cards":
            service, cards, at = payload
            if writer is not None:
                writer.record_cards(service, cards, at)
            else:
                store.record_cards(service, cards, at)
        else:
            if writer is not None:
                assert writer.flush(timeout=30)  # as the feedback endpoint does
            service, items = payload
            store.store_feedback(service, items, NOW)
    if writer is not None:
        assert writer.flush(timeout=30)


def windows(rng: random.Random) -> list[datetime | None]:
    """All time, whole-day windows from a mid-day `now`, midnight starts, odd starts, the future."""
    chosen: list[datetime | None] = [None, NOW - timedelta(days=7), NOW - timedelta(days=1)]
    chosen.append(datetime(2026, 11, 15, tzinfo=UTC))  # a midnight: no partial day
    chosen.append(NOW + timedelta(days=2))  # nothing in it
    chosen += [NOW - timedelta(minutes=rng.randrange(0, 15 * 24 * 60), microseconds=rng.randrange(10**6))
               for _ in range(4)]  # fmt: skip
    return chosen


def assert_matches(store: Store, since: datetime | None) -> None:
    assert fast_breakdown(store, since) == exact_breakdown(store, since), since


def clear(store: Store) -> None:
    with store.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name not in {"schema_version", "seen_jti"}:
                conn.execute(table.delete())


def test_window_days_splits_at_the_first_midnight() -> None:
    assert window_days(None) == (None, None)
    first, boundary = window_days(datetime(2026, 11, 14, 14, 0, tzinfo=UTC))
    assert first == datetime(2026, 11, 15).date() and boundary == datetime(2026, 11, 15, tzinfo=UTC)
    first, boundary = window_days(datetime(2026, 11, 15, tzinfo=UTC))
    assert first == datetime(2026, 11, 15).date() and boundary == datetime(2026, 11, 15, tzinfo=UTC)
    eastern = datetime(2026, 11, 15, 1, 0, tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    assert window_days(eastern)[0] == datetime(2026, 11, 16).date()  # UTC days, whatever the zone given


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_cards_and_feedback_match_the_exact_sql(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    apply(store, random_operations(rng, cards=150, items=400))
    with store.engine.connect() as conn:  # the data really has what the test is about
        refeedback = conn.execute(
            feedback.select().with_only_columns(feedback.c.card_uuid).group_by(feedback.c.card_uuid)
            .having(func.count() > 1)
        ).all()  # fmt: skip
        assert len(refeedback) > 10
        assert conn.execute(card_outcomes.select().where(card_outcomes.c.rule_id.is_(None))).first()
    for since in windows(rng):
        assert_matches(store, since)
    assert store.report()["unattributed_feedback"] > 0


def test_background_writer_batches_and_spool_replays_keep_the_summaries_exact(
    store: Store, tmp_path: Path
) -> None:
    """Cards through the background writer (batched insert-or-ignore, the path of the service),
    some replayed later with old issue times after their feedback arrived."""
    rng = random.Random(7)
    writer = BackgroundWriter(store, batch_size=37, interval=0.01)
    try:
        operations = random_operations(rng, cards=120, items=300)
        late = [op for op in operations if op[0] == "cards" and rng.random() < 0.3]
        apply(store, [op for op in operations if op not in late], writer)
        apply(store, late, writer)  # the outage is over: old issue times, feedback already stored
    finally:
        writer.close()
    for since in windows(rng):
        assert_matches(store, since)


@pytest.fixture(scope="module")
def shared_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(sqlite_url(tmp_path_factory.mktemp("summaries"))) as store:
        yield store


_minutes = st.integers(min_value=-3 * 24 * 60, max_value=24 * 60)
_event = st.one_of(
    st.tuples(
        st.just("cards"), st.integers(0, 5), st.sampled_from(RULES), st.sampled_from(SERVICES), _minutes
    ),
    st.tuples(
        st.just("feedback"),
        st.integers(0, 7),  # 6 and 7: never recorded
        st.sampled_from(("accepted", "overridden")),
        st.sampled_from(SERVICES),
        _minutes,
        st.one_of(
            st.none(), st.tuples(st.sampled_from(SYSTEMS), st.sampled_from(CODES), st.sampled_from(DISPLAYS))
        ),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(_event, max_size=25), since_minutes=st.lists(_minutes, min_size=1, max_size=3))
def test_any_sequence_of_writes_matches_the_exact_sql(
    shared_sqlite: Store, events: list[tuple[Any, ...]], since_minutes: list[int]
) -> None:
    """Few uuids and few times, so repeats, ties and re-feedback are the rule, not the exception."""
    store = shared_sqlite
    clear(store)
    for event in events:
        if event[0] == "cards":
            _, n, rule_id, service, minute = event
            store.record_cards(service, [card(f"u{n}", rule_id)], NOW + timedelta(minutes=minute))
        else:
            _, n, outcome, service, minute, reason = event
            at = NOW + timedelta(minutes=minute)
            store.store_feedback(
                service, [item(f"u{n}", outcome, at, reason if outcome == "overridden" else None)], NOW
            )
    for since in [None, *(NOW + timedelta(minutes=m, seconds=17) for m in since_minutes)]:
        assert_matches(store, since)


def test_concurrent_writers_keep_the_summaries_exact(store: Store) -> None:
    """Two stores (two engines, as two workers have) write cards and feedback on the same cards at
    the same time, each also through a background writer; the summaries still match."""
    import threading

    rng = random.Random(11)
    operations = random_operations(rng, cards=200, items=500)
    halves = [operations[0::2], operations[1::2]]
    errors: list[BaseException] = []
    other = Store(store.url)
    barrier = threading.Barrier(2)

    def work(target: Store, part: list[tuple[str, Any]], use_writer: bool) -> None:
        writer = BackgroundWriter(target, batch_size=25, interval=0.005) if use_writer else None
        try:
            barrier.wait()
            apply(target, part, writer)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            if writer is not None:
                writer.close()

    threads = [
        threading.Thread(target=work, args=(store, halves[0], True)),
        threading.Thread(target=work, args=(other, halves[1], False)),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        other.close()
    assert not errors, errors
    assert store.issued_card_count() > 150
    for since in windows(rng):
        assert_matches(store, since)


def test_summaries_are_written_in_the_transaction_of_their_rows(sqlite_store: Store) -> None:
    """A write that fails leaves neither the rows nor their summary."""
    store = sqlite_store
    store.record_cards("svc-1", [card("c-1", "rule-a")], NOW)
    before = fast_breakdown(store, None)
    good = {"uuid": "c-2", "rule_id": "rule-a", "service_id": "svc-1", "indicator": None, "issued_at": NOW}
    bad_rows = [good, {**good, "uuid": "c-3", "rule_id": None}]
    with pytest.raises(Exception), store.engine.begin() as conn:  # noqa: B017, PT011 - NOT NULL violation
        store.insert_rows(conn, issued_cards, bad_rows)
    assert fast_breakdown(store, None) == before == exact_breakdown(store, None)
