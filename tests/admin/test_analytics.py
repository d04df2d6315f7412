"""/admin/analytics shows the numbers of `report --json` (Store.report with the same --since
parsing) in `<table id="analytics">`, and per service and per day numbers that add up to them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from spasticity_cds.report import parse_since
from tests.admin.helpers import expected_cells, seed, table_rows
from tests.conftest import NOW


@pytest.fixture
def seeded(admin_app: Flask, knowledge: Any) -> Flask:
    seed(admin_app.extensions["cds"].store, knowledge, NOW)
    return admin_app


@pytest.mark.parametrize("days", [7, 30, 90])
def test_table_has_the_report_numbers(seeded: Flask, days: int) -> None:
    html = seeded.test_client().get(f"/admin/analytics?days={days}").get_data(as_text=True)
    report = seeded.extensions["cds"].store.report(parse_since(f"{days}d", now=lambda: NOW))
    rows = table_rows(html)
    assert report["rules"], "the seed must put cards in every period"
    for rule_id, counts in report["rules"].items():
        cells = rows[rule_id]
        assert {k: cells[k] for k in expected_cells(counts)} == expected_cells(counts), rule_id
        for reason in counts["top_override_reasons"]:
            assert f"({reason['count']})" in cells["top_override_reasons"]
    for rule_id in set(rows) - set(report["rules"]):  # rules with nothing in the period: zeros
        assert rows[rule_id]["issued"] == "0" and rows[rule_id]["acceptance_rate"] == "n/a"
    assert f'data-since="{report["since"]}"' in html


def test_periods_differ_and_grow(seeded: Flask) -> None:
    client = seeded.test_client()
    issued = {}
    for days in (7, 30, 90):
        rows = table_rows(client.get(f"/admin/analytics?days={days}").get_data(as_text=True))
        issued[days] = sum(int(r["issued"]) for r in rows.values())
    assert 0 < issued[7] < issued[30] < issued[90] < 400  # 400 seeded over 100 days


def test_per_service_adds_up_to_the_per_rule_totals(seeded: Flask) -> None:
    html = seeded.test_client().get("/admin/analytics?days=90").get_data(as_text=True)
    rules, services = table_rows(html), table_rows(html, "analytics-services")
    assert set(services) == {
        "spasticity-order-select",
        "spasticity-order-sign",
        "spasticity-medication-prescribe",
    }
    for key in ("issued", "accepted", "overridden"):
        assert sum(int(r[key]) for r in services.values()) == sum(int(r[key]) for r in rules.values()), key
    assert all(r["held_back"] == "n/a" for r in services.values())


def test_per_day_adds_up_and_covers_the_period(seeded: Flask) -> None:
    from spasticity_cds.admin.analytics import build

    rt = seeded.extensions["cds"]
    data = build(rt.store, rt.knowledge, 30, lambda: NOW)
    assert len(data.per_day) == 31 and data.per_day[-1][0] == NOW.date()
    assert data.per_day[0][0] == (NOW - timedelta(days=30)).date()
    assert sum(issued for _, issued, _ in data.per_day) == data.totals()["issued"]
    # Overrides are counted per card and day; the seed overrides each card once.
    assert sum(over for _, _, over in data.per_day) == data.totals()["overridden"]


def test_override_reasons_show_their_display_even_when_sent_without_one(
    seeded: Flask, knowledge: Any
) -> None:
    html = seeded.test_client().get("/admin/analytics?days=90").get_data(as_text=True)
    rows = table_rows(html)
    for rule in knowledge.rules:
        cell = rows[rule["id"]]["top_override_reasons"]
        for code in (r["code"] for r in rule["card"].get("override_reasons", [])):
            assert f"{code} (" not in cell  # never the bare code where the rule file has a display
    some = next(r for r in knowledge.rules if r["card"].get("override_reasons"))
    assert any(
        r["display"] in rows[some["id"]]["top_override_reasons"] for r in some["card"]["override_reasons"]
    )


def test_empty_store_shows_zeros_and_an_empty_chart(admin_client: Any, knowledge: Any) -> None:
    html = admin_client.get("/admin/analytics").get_data(as_text=True)
    rows = table_rows(html)
    assert set(rows) == {r["id"] for r in knowledge.rules}
    assert all(r["issued"] == "0" and r["acceptance_rate"] == "n/a" for r in rows.values())
    assert '<svg id="per-day-chart"' in html and "0 issued, 0 overridden" in html


def test_held_back_comes_from_the_report_when_the_store_counts_it(seeded: Flask) -> None:
    store = seeded.extensions["cds"].store
    original = store.report_breakdown  # the page reads the report through its breakdown

    def report_with_repeats(since: Any = None, **kwargs: Any) -> Any:
        result = original(since, **kwargs)
        for counts in result.report["rules"].values():
            counts["held_back"] = 3
        return result

    store.report_breakdown = report_with_repeats
    rows = table_rows(seeded.test_client().get("/admin/analytics?days=30").get_data(as_text=True))
    assert {r["held_back"] for r_id, r in rows.items() if r["issued"] != "0"} == {"3"}


def test_chart_is_escaped_svg_with_a_text_alternative(seeded: Flask) -> None:
    html = seeded.test_client().get("/admin/analytics?days=7").get_data(as_text=True)
    svg = html[html.index('<svg id="per-day-chart"') : html.index("</svg>")]
    assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
    assert svg.count('class="bar-issued"') >= 2  # bars plus the legend
    assert '<table class="data compact" id="per-day">' in html


def test_a_new_card_or_feedback_shows_at_once(seeded: Flask) -> None:
    client = seeded.test_client()
    store = seeded.extensions["cds"].store

    def issued() -> int:
        rows = table_rows(client.get("/admin/analytics?days=7").get_data(as_text=True))
        return sum(int(r["issued"]) for r in rows.values())

    before = issued()
    assert issued() == before
    card = {
        "uuid": "fresh-card",
        "indicator": "info",
        "source": {"topic": {"code": "benzodiazepine-spasticity"}},
    }
    store.record_cards("spasticity-order-sign", [card], NOW - timedelta(minutes=1))
    assert issued() == before + 1
