"""Override analytics for a period: the per-rule numbers of `report --json`, plus per service and per day.

The per-rule numbers are `Store.report(since)` itself, with `since` parsed by the same
`parse_since` as `spasticity-cds report --since Nd`, so the page and the command cannot disagree.
The per-service and per-day views come from the same pass (`Store.report_breakdown`): one reading
of the summaries the store keeps at write time, so they add up to the per-rule totals by
construction (and a test checks that they do). A period is read fresh on every view: at 100,000
cards a cold view takes a few milliseconds (tests/admin/test_latency.py), so nothing is cached and
nothing can be stale.

"Held back as repeats" is read from the report (`held_back` per rule, when the store records repeat
suppression); where the store has no such count the page says "n/a", never a made-up 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..report import parse_since
from ..store.report import Breakdown

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
HELD_BACK = "held_back"  # the report key of cards held back as repeats (repeat suppression)
OUTCOMES = ("accepted", "overridden")


@dataclass
class ServiceRow:
    service_id: str
    title: str
    issued: int = 0
    accepted: int = 0
    overridden: int = 0
    held_back: int | None = None

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.issued if self.issued else None


@dataclass
class Analytics:
    days: int
    since: datetime
    report: dict[str, Any]  # exactly Store.report(since)
    rule_titles: Mapping[str, str]
    services: list[ServiceRow]
    per_day: list[tuple[date, int, int]]  # (day, issued, overridden), every day of the period
    reason_displays: Mapping[tuple[str | None, str], str] = field(default_factory=dict)

    @property
    def rules(self) -> Mapping[str, Mapping[str, Any]]:
        return self.report["rules"]  # type: ignore[no-any-return]

    def totals(self) -> dict[str, int]:
        return {
            key: sum(int(counts.get(key) or 0) for counts in self.rules.values())
            for key in ("issued", "accepted", "overridden")
        }

    def reason_display(self, reason: Mapping[str, Any]) -> str:
        """The stored display, else the display the rule files give that code (the service's own)."""
        display = reason.get("display")
        if display:
            return str(display)
        key = (reason.get("system"), str(reason.get("code")))
        return self.reason_displays.get(key, key[1])


def period_of(raw: str | None) -> int | None:
    """`?days=` -> one of PERIODS (default 30 when absent); None when it is anything else."""
    if raw is None or raw == "":
        return DEFAULT_PERIOD
    try:
        days = int(raw)
    except ValueError:
        return None
    return days if days in PERIODS else None


def build(store: Any, knowledge: Any, days: int, clock: Callable[[], datetime]) -> Analytics:
    """All the numbers the analytics page shows for the last `days` days."""
    since = parse_since(f"{days}d", now=clock)
    breakdown = store.report_breakdown(since)
    services = _per_service(knowledge, breakdown)
    per_day = _per_day(breakdown, since, clock().astimezone(UTC).date())
    override_system = knowledge.presentation.get("override_system")
    displays = {
        (override_system, reason["code"]): reason["display"]
        for rule in knowledge.rules
        for reason in rule["card"].get("override_reasons", [])
    }
    titles = {rule["id"]: rule["title"] for rule in knowledge.rules}
    return Analytics(days, since, breakdown.report, titles, services, per_day, displays)


def _per_service(knowledge: Any, breakdown: Breakdown) -> list[ServiceRow]:
    rows = {sid: ServiceRow(sid, str(s.get("title", sid))) for sid, s in knowledge.services.items()}
    for service_id, counts in breakdown.by_service.items():
        row = rows.setdefault(service_id, ServiceRow(service_id, service_id))
        row.issued, row.accepted, row.overridden = (counts[key] for key in ("issued", *OUTCOMES))
    held = breakdown.report.get("services")
    for service_id, counts in (held if isinstance(held, Mapping) else {}).items():
        if isinstance(counts, Mapping) and counts.get(HELD_BACK) is not None:
            rows.setdefault(service_id, ServiceRow(service_id, service_id)).held_back = int(counts[HELD_BACK])
    return list(rows.values())


def _per_day(breakdown: Breakdown, since: datetime, today: date) -> list[tuple[date, int, int]]:
    """(day, issued, overridden) for every UTC day from the one `since` falls in to `today`."""
    first = since.astimezone(UTC).date()
    span = max((today - first).days, 0) + 1
    empty = {"issued": 0, "overridden": 0}
    days = [first + timedelta(days=i) for i in range(span)]
    counts = [breakdown.by_day.get(d, empty) for d in days]
    return [(d, c["issued"], c["overridden"]) for d, c in zip(days, counts, strict=True)]


def held_back(counts: Mapping[str, Any]) -> int | None:
    """A rule's cards held back as repeats, or None when the store does not count them."""
    value = counts.get(HELD_BACK)
    return None if value is None else int(value)
