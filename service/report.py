"""Alert analytics for people: the store's report as a text table or JSON, and `--since` parsing.

`spasticity-cds report` exists so a hospital can see alert fatigue per rule: a rule whose cards are
issued often and rarely accepted, or overridden for the same reason again and again, is a rule to
review. The numbers come from `Store.report`; this module only formats them.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_HEADERS = ("rule", "issued", "accepted", "overridden", "acceptance", "top override reasons")


def parse_since(text: str, *, now: Callable[[], datetime] | None = None) -> datetime:
    """`--since` value -> aware UTC datetime.

    Accepts a duration back from now (``90m``, ``12h``, ``7d``, ``2w``), a date (``2026-01-31``,
    midnight UTC) or a date-time (``2026-01-31T08:00:00+01:00``; without a zone it is read as UTC,
    since the database stores UTC). Raises ValueError with a message fit for the command line.
    """
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        current = (now or (lambda: datetime.now(UTC)))().astimezone(UTC)
        return current - timedelta(**{_UNITS[unit]: amount})
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a duration like 7d, 12h, 30m, 2w or an ISO date such as 2026-01-31"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def with_reason_displays(report: Mapping[str, Any], knowledge: Any) -> dict[str, Any]:
    """The report with the display of the service's own override reasons filled in from cards/rules.

    Clients often send only `system` and `code` (the CDS Hooks sandbox does); a reason in the
    service's own override system is shown with the wording its rule file gives it (that rule's
    first, else any rule's), so the report reads the same whatever the EHR sent back.
    """
    system = knowledge.presentation["override_system"]
    by_rule: dict[str, dict[str, str]] = {}
    anywhere: dict[str, str] = {}
    for rule in knowledge.rules:
        for reason in rule["card"].get("override_reasons", []):
            by_rule.setdefault(rule["id"], {})[reason["code"]] = reason["display"]
            anywhere.setdefault(reason["code"], reason["display"])
    result = copy.deepcopy(dict(report))
    for rule_id, counts in (result.get("rules") or {}).items():
        for reason in counts.get("top_override_reasons") or []:
            if reason.get("system") == system:
                code = reason.get("code")
                own = by_rule.get(rule_id, {}).get(code) or anywhere.get(code)
                if own:
                    reason["display"] = own
    return result


def format_json(report: Mapping[str, Any]) -> str:
    """The report as JSON (stable key order as built by the store), for scripts and dashboards."""
    return json.dumps(report, indent=2)


def format_table(report: Mapping[str, Any]) -> str:
    """One row per rule: issued, accepted, overridden, acceptance rate and top override reasons."""
    window = f"since {report['since']}" if report.get("since") else "all time"
    lines = [f"Card feedback, {window} (generated {report.get('generated_at', '?')})", ""]
    rules: Mapping[str, Mapping[str, Any]] = report.get("rules") or {}
    if not rules:
        lines.append("No cards issued and no feedback stored in this window.")
    else:
        rows = [_HEADERS] + [_row(rule_id, counts) for rule_id, counts in rules.items()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS) - 1)]
        numeric = {1, 2, 3, 4}
        for index, row in enumerate(rows):
            cells = [
                cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                for i, cell in enumerate(row[:-1])
            ]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(_HEADERS[-1]))
    if report.get("counting") and rules:
        lines += ["", f"Counting: {report['counting']}."]
    unattributed = int(report.get("unattributed_feedback") or 0)
    if unattributed:
        lines += ["", f"{unattributed} feedback item(s) refer to cards this service has no record of."]
    return "\n".join(lines) + "\n"


def _row(rule_id: str, counts: Mapping[str, Any]) -> tuple[str, ...]:
    rate = counts.get("acceptance_rate")
    reasons = "; ".join(
        f"{reason.get('display') or reason.get('code')} ({reason.get('count')})"
        for reason in counts.get("top_override_reasons") or []
    )
    return (
        rule_id,
        str(counts.get("issued", 0)),
        str(counts.get("accepted", 0)),
        str(counts.get("overridden", 0)),
        "-" if rate is None else f"{rate * 100:.1f}%",
        reasons or "-",
    )
