"""Seeding a store with issued cards and feedback, and reading the analytics table out of a page."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

SERVICES = ("spasticity-order-select", "spasticity-order-sign", "spasticity-medication-prescribe")


def _card(uuid: str, rule_id: str, indicator: str) -> dict[str, Any]:
    return {"uuid": uuid, "indicator": indicator, "source": {"topic": {"code": rule_id}}}


def seed(
    store: Any, knowledge: Any, now: datetime, *, cards: int = 400, seed_value: int = 14
) -> dict[str, int]:
    """Issue `cards` cards over the last 100 days (some outside every period), and feedback on them:
    about a fifth accepted, a third overridden (with the rule's own reasons, some sent without a
    display, as the CDS Hooks sandbox does), one card accepted and then overridden, and feedback on
    a card this store never issued. Deterministic for a given seed."""
    rng = random.Random(seed_value)
    rules = [r for r in knowledge.rules if r["card"].get("override_reasons")]
    system = knowledge.presentation["override_system"]
    issued: list[tuple[str, str, str, datetime]] = []
    by_time: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
    for n in range(cards):
        rule = rules[n % len(rules)] if n < len(rules) else rng.choice(rules)
        service = SERVICES[n % 3] if n < 3 else rng.choice(SERVICES)
        at = now - timedelta(days=rng.uniform(0, 100), minutes=5)
        uuid = f"seed-{seed_value}-{n:06d}"
        issued.append((uuid, rule["id"], service, at))
        by_time.setdefault((service, at), []).append(_card(uuid, rule["id"], rule["indicator"]["default"]))
    for (service, at), group in by_time.items():
        store.record_cards(service, group, at)

    def stamp(at: datetime) -> str:
        return at.isoformat().replace("+00:00", "Z")

    items: dict[str, list[dict[str, Any]]] = {}
    for index, (uuid, rule_id, service, at) in enumerate(issued):
        roll = rng.random()
        answered = min(at + timedelta(minutes=rng.uniform(1, 60)), now - timedelta(minutes=1))
        rule = knowledge.rules_by_id[rule_id]
        if index == 0 or roll < 0.2:
            items.setdefault(service, []).append(
                {
                    "card": uuid,
                    "outcome": "accepted",
                    "acceptedSuggestions": [],
                    "outcomeTimestamp": stamp(answered),
                }
            )
        if index == 0 or 0.2 <= roll < 0.55:
            reason = rng.choice(rule["card"]["override_reasons"])
            coding: dict[str, Any] = {"system": system, "code": reason["code"]}
            if rng.random() < 0.5:
                coding["display"] = reason["display"]
            later = min(answered + timedelta(minutes=2), now - timedelta(seconds=30))
            items.setdefault(service, []).append(
                {"card": uuid, "outcome": "overridden", "overrideReason": {"reason": coding},
                 "outcomeTimestamp": stamp(later)}
            )  # fmt: skip
    items.setdefault(SERVICES[1], []).append(
        {
            "card": "never-issued-here",
            "outcome": "accepted",
            "outcomeTimestamp": stamp(now - timedelta(hours=1)),
        }
    )
    stored = sum(store.store_feedback(service, batch, now) for service, batch in items.items())
    return {"cards": cards, "feedback": stored}


class _TableReader(HTMLParser):
    """Rows of `<table id=...>`: {row key: {data-field: text}}, keyed by data-rule-id or data-service-id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.inside = False
        self.rows: dict[str, dict[str, str]] = {}
        self.row: str | None = None
        self.field: str | None = None
        self.text: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "table" and attr.get("id") == self.table_id:
            self.inside = True
        if not self.inside:
            return
        if tag == "tr":
            self.row = attr.get("data-rule-id") or attr.get("data-service-id")
            if self.row:
                self.rows[self.row] = {}
        elif tag == "td" and self.row and attr.get("data-field"):
            self.field, self.text = attr["data-field"], []

    def handle_endtag(self, tag: str) -> None:
        if not self.inside:
            return
        if tag == "td" and self.field and self.row:
            self.rows[self.row][self.field] = " ".join("".join(self.text).split())
            self.field = None
        elif tag == "table":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside and self.field:
            self.text.append(data)


def table_rows(html: str, table_id: str = "analytics") -> dict[str, dict[str, str]]:
    reader = _TableReader(table_id)
    reader.feed(html)
    return reader.rows


def expected_cells(counts: Mapping[str, Any]) -> dict[str, str]:
    """How the page writes one rule's numbers from the report (the comparison the tests make)."""
    rate = counts.get("acceptance_rate")
    held = counts.get("held_back")
    return {
        "issued": str(counts.get("issued", 0)),
        "accepted": str(counts.get("accepted", 0)),
        "overridden": str(counts.get("overridden", 0)),
        "held_back": "n/a" if held is None else str(held),
        "acceptance_rate": "n/a" if rate is None else f"{rate * 100:.1f}%",
    }


def reason_codes(cell: str, reasons: Sequence[Mapping[str, Any]]) -> bool:
    """True when the cell lists every reason's count, in the report's order."""
    position = 0
    for reason in reasons:
        found = cell.find(f"({reason['count']})", position)
        if found < 0:
            return False
        position = found + 1
    return True


def seed_bulk(
    store: Any, knowledge: Any, now: datetime, *, cards: int, days: int, feedback_share: float = 0.3
) -> int:
    """`cards` issued cards spread evenly over the last `days` days, written through the store in
    batches of 1,000 (one issue time per batch), and feedback on `feedback_share` of them (two
    thirds overridden with one of the rule's reasons, one third accepted). Returns feedback stored."""
    rng = random.Random(100_000)
    rules = [r for r in knowledge.rules if r["card"].get("override_reasons")]
    system = knowledge.presentation["override_system"]
    batch = 1000
    stored = 0
    for start in range(0, cards, batch):
        at = now - timedelta(days=days * (1 - (start + batch / 2) / cards))
        service = SERVICES[(start // batch) % 3]
        group = []
        items = []
        for n in range(start, min(start + batch, cards)):
            rule = rules[n % len(rules)]
            uuid = f"bulk-{n:07d}"
            group.append(_card(uuid, rule["id"], rule["indicator"]["default"]))
            if rng.random() < feedback_share:
                when = (at + timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
                if rng.random() < 2 / 3:
                    reason = rule["card"]["override_reasons"][n % len(rule["card"]["override_reasons"])]
                    coding = {"system": system, "code": reason["code"]}
                    items.append(
                        {"card": uuid, "outcome": "overridden", "outcomeTimestamp": when,
                         "overrideReason": {"reason": coding}}
                    )  # fmt: skip
                else:
                    items.append({"card": uuid, "outcome": "accepted", "outcomeTimestamp": when})
        store.record_cards(service, group, at)
        stored += store.store_feedback(service, items, now)
    return stored
