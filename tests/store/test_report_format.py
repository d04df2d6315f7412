"""The report as a table and as JSON, and `--since` parsing, on a report the store really produced."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from spasticity_cds.report import format_json, format_table, parse_since
from spasticity_cds.store import Store
from tests.store.common import FIXED_NOW

SYSTEM = "https://spasticity-cds.example.org/override-reason"


def fill(store: Store) -> None:
    def topic(rule: str) -> dict[str, dict[str, str]]:
        return {"topic": {"code": rule}}

    cards = [{"uuid": f"bd-{i}", "indicator": "warning", "source": topic("baclofen-dantrolene-combination")}
             for i in range(5)]  # fmt: skip
    cards.append({"uuid": "tz-1", "indicator": "critical", "source": topic("tizanidine-ciprofloxacin")})
    store.record_cards("order-sign", cards, FIXED_NOW - timedelta(hours=2))
    at = "2026-11-21T13:00:00Z"
    taken = [{"id": "s"}]
    benefit = {"code": "benefit", "system": SYSTEM, "display": "Benefit > risk"}
    store.store_feedback(
        "order-sign",
        [
            {"card": "bd-0", "outcome": "accepted", "acceptedSuggestions": taken, "outcomeTimestamp": at},
            {"card": "bd-1", "outcome": "accepted", "acceptedSuggestions": taken, "outcomeTimestamp": at},
            {
                "card": "bd-2",
                "outcome": "overridden",
                "overrideReason": {"reason": benefit},
                "outcomeTimestamp": at,
            },
            {
                "card": "bd-3",
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": "monitored", "system": SYSTEM}},
                "outcomeTimestamp": at,
            },
            {"card": "ghost", "outcome": "overridden", "outcomeTimestamp": at},
        ],
        FIXED_NOW,
    )


def test_table_has_one_row_per_rule_with_counts_rate_and_reasons(sqlite_store: Store) -> None:
    fill(sqlite_store)
    table = format_table(sqlite_store.report(now=FIXED_NOW))
    lines = table.splitlines()
    assert lines[0] == "Card feedback, all time (generated 2026-11-21T14:00:00Z)"
    header = lines[2].split()
    assert header[:5] == ["rule", "issued", "accepted", "overridden", "acceptance"]
    rows = {line.split()[0]: line for line in lines[4:] if line and not line[0].isdigit()}
    bd = rows["baclofen-dantrolene-combination"].split()
    assert bd[1:5] == ["5", "2", "2", "40.0%"]
    assert rows["baclofen-dantrolene-combination"].endswith("Benefit > risk (1); monitored (1)")
    tz = rows["tizanidine-ciprofloxacin"].split()
    assert tz[1:6] == ["1", "0", "0", "0.0%", "-"]
    assert lines[-1] == "1 feedback item(s) refer to cards this service has no record of."
    # Columns line up: every row's counts end where the header's do.
    end = lines[2].index("acceptance") + len("acceptance")
    assert all(len(line) > end and line[end] == " " for line in lines[4:6])


def test_table_for_an_empty_window(sqlite_store: Store) -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    table = format_table(sqlite_store.report(since, now=FIXED_NOW))
    assert "since 2026-11-01T00:00:00Z" in table
    assert "No cards issued and no feedback stored in this window." in table


def test_rule_with_feedback_but_nothing_issued_shows_a_dash_rate() -> None:
    report = {
        "since": "2026-11-20T00:00:00Z",
        "generated_at": "2026-11-21T14:00:00Z",
        "rules": {"r": {"issued": 0, "accepted": 1, "overridden": 0, "acceptance_rate": None,
                        "top_override_reasons": []}},
        "unattributed_feedback": 0,
    }  # fmt: skip
    row = format_table(report).splitlines()[4].split()
    assert row == ["r", "0", "1", "0", "-", "-"]


def test_json_is_the_report(sqlite_store: Store) -> None:
    fill(sqlite_store)
    report = sqlite_store.report(now=FIXED_NOW)
    decoded = json.loads(format_json(report))
    assert decoded == report
    counts = decoded["rules"]["baclofen-dantrolene-combination"]
    assert all(isinstance(counts[k], int) for k in ("issued", "accepted", "overridden"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", FIXED_NOW - timedelta(days=7)),
        ("12h", FIXED_NOW - timedelta(hours=12)),
        ("30m", FIXED_NOW - timedelta(minutes=30)),
        ("2w", FIXED_NOW - timedelta(weeks=2)),
        ("90s", FIXED_NOW - timedelta(seconds=90)),
        (" 7D ", FIXED_NOW - timedelta(days=7)),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T08:00:00", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("2026-01-31T08:00:00+01:00", datetime(2026, 1, 31, 7, tzinfo=UTC)),
        ("2026-01-31T08:00:00Z", datetime(2026, 1, 31, 8, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    parsed = parse_since(text, now=lambda: FIXED_NOW.astimezone(timezone(timedelta(hours=5))))
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "7", "d7", "7 days", "-7d", "2026-02-30", "last week", "7y"])
def test_parse_since_rejects_with_a_usable_message(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 7d"):
        parse_since(text)
