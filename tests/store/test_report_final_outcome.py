"""A report that adds up: each card counts once, by its final outcome; own override reasons named.

The bug this guards against: a card accepted and then overridden was counted accepted 1 and
overridden 1, acceptance rate 1.0 for 1 card, and `top_override_reasons` showed `"display": null`
for the service's own reason codes when the client sent only system and code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from spasticity_cds.cli import main
from spasticity_cds.report import format_table, with_reason_displays
from spasticity_cds.store import REPORT_COUNTING, Store
from tests.store.common import FIXED_NOW, sqlite_url

RULE = "benzodiazepine-spasticity"


def _card(uuid: str) -> dict[str, Any]:
    return {"uuid": uuid, "indicator": "warning", "source": {"topic": {"code": RULE}}}


def _item(
    uuid: str, outcome: str, at: str, code: str | None = None, system: str | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {"card": uuid, "outcome": outcome, "outcomeTimestamp": at}
    if outcome == "accepted":
        item["acceptedSuggestions"] = [{"id": "s-1"}]
    if code:
        item["overrideReason"] = {"reason": {"code": code, "system": system}}
    return item


def test_accepted_then_overridden_counts_once_as_overridden(store: Store, knowledge: Any) -> None:
    own = knowledge.presentation["override_system"]
    store.record_cards("order-sign", [_card("c-1")], FIXED_NOW)
    store.store_feedback("order-sign", [_item("c-1", "accepted", "2026-11-21T10:00:00Z")], FIXED_NOW)
    store.store_feedback(
        "order-sign", [_item("c-1", "overridden", "2026-11-21T10:01:00Z", "other-indication", own)], FIXED_NOW
    )
    report = store.report()
    counts = report["rules"][RULE]
    assert (counts["issued"], counts["accepted"], counts["overridden"]) == (1, 0, 1)
    assert counts["acceptance_rate"] == 0.0
    assert report["counting"] == REPORT_COUNTING and "last feedback" in REPORT_COUNTING
    (reason,) = counts["top_override_reasons"]
    assert reason["display"] is None  # the client sent none; the store keeps what it got
    named = with_reason_displays(report, knowledge)
    assert named["rules"][RULE]["top_override_reasons"][0]["display"] == "Prescribed for another indication"
    assert report["rules"][RULE]["top_override_reasons"][0]["display"] is None  # not mutated


def test_overridden_then_accepted_counts_once_as_accepted_and_drops_the_reason(store: Store) -> None:
    store.record_cards("order-sign", [_card("c-1"), _card("c-2")], FIXED_NOW)
    store.store_feedback(
        "order-sign",
        [
            _item("c-1", "overridden", "2026-11-21T10:00:00Z", "x", "urn:other"),
            _item("c-1", "accepted", "2026-11-21T10:05:00Z"),
            _item("c-2", "overridden", "2026-11-21T10:00:00Z", "y", "urn:other"),
        ],
        FIXED_NOW,
    )
    counts = store.report()["rules"][RULE]
    assert (counts["issued"], counts["accepted"], counts["overridden"]) == (2, 1, 1)
    assert counts["acceptance_rate"] == 0.5
    assert [r["code"] for r in counts["top_override_reasons"]] == ["y"]


def test_final_outcome_within_the_window(store: Store) -> None:
    store.record_cards("order-sign", [_card("c-1")], FIXED_NOW)
    store.store_feedback(
        "order-sign",
        [
            _item("c-1", "accepted", "2026-11-19T10:00:00Z"),
            _item("c-1", "overridden", "2026-11-21T10:00:00Z"),
        ],
        FIXED_NOW,
    )
    assert store.report(datetime(2026, 11, 18, tzinfo=UTC))["rules"][RULE]["accepted"] == 0
    assert store.report(datetime(2026, 11, 20, tzinfo=UTC))["rules"][RULE]["overridden"] == 1


def test_foreign_reason_codes_keep_the_client_display(knowledge: Any) -> None:
    own = knowledge.presentation["override_system"]
    report = {
        "rules": {RULE: {"top_override_reasons": [
            {"code": "other-indication", "system": "urn:ehr", "display": "EHR words", "count": 1},
            {"code": "unknown", "system": own, "display": None, "count": 1},
        ]}}
    }  # fmt: skip
    reasons = with_reason_displays(report, knowledge)["rules"][RULE]["top_override_reasons"]
    assert [r["display"] for r in reasons] == ["EHR words", None]


def test_table_says_how_it_counts(sqlite_store: Store) -> None:
    sqlite_store.record_cards("order-sign", [_card("c-1")], FIXED_NOW)
    table = format_table(sqlite_store.report(now=FIXED_NOW))
    assert "the last feedback (by outcome time) wins" in table


def test_cli_report_json_names_own_reasons(
    tmp_path: Path, knowledge: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path)
    with Store(url) as store:
        store.record_cards("order-sign", [_card("c-1")], FIXED_NOW)
        item = _item("c-1", "overridden", "2026-11-21T10:00:00Z", "palliative-care",
                     knowledge.presentation["override_system"])  # fmt: skip
        store.store_feedback("order-sign", [item], FIXED_NOW)
    monkeypatch.setenv("CDS_DATABASE_URL", url)
    assert main(["report", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (reason,) = report["rules"][RULE]["top_override_reasons"]
    assert reason["display"] == "Palliative or end-of-life care"
    assert report["counting"] == REPORT_COUNTING
