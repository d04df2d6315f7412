"""What the catalogue pages say about each rule, read from the rule files alone.

Status, indicator and triggers read the way docs/RULES.md reads them (the helpers of
`service.catalogue`, the module that writes that file); the `require` and `unless` predicates of
each trigger are spelled out generically from their names and arguments, so a predicate added to
the rule schema shows up here without code that knows what it means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..catalogue import _indicator, _selector  # the wording of docs/RULES.md

REVIEW_FIELDS = (
    ("author", "Author"),
    ("reviewer", "Reviewer"),
    ("last_reviewed", "Last reviewed"),
    ("next_review", "Next review"),
)


@dataclass(frozen=True)
class Trigger:
    new_order: str
    require: tuple[str, ...]
    unless: tuple[str, ...]
    include_stopping_orders: bool


def _words(name: str) -> str:
    return name.replace("_", " ")


def _argument(arg: Any) -> str:
    if isinstance(arg, Mapping):
        return "; ".join(f"{_words(str(k))} {_argument(v)}" for k, v in arg.items())
    if isinstance(arg, list | tuple):
        if any(isinstance(a, Mapping) for a in arg):  # a list of records: one bracket each
            return ", ".join(f"({_argument(a)})" for a in arg)
        return " or ".join(_argument(a) for a in arg)
    return str(arg)


def predicate_text(predicate: Mapping[str, Any]) -> str:
    """`{latest_result_below: {lab: egfr, value: 30}}` -> "latest result below: lab egfr; value 30"."""
    parts = []
    for name, arg in predicate.items():
        if name in ("any", "all") and isinstance(arg, list):
            joined = f" {'or' if name == 'any' else 'and'} ".join(f"({predicate_text(p)})" for p in arg)
            parts.append(f"{'any' if name == 'any' else 'all'} of: {joined}")
        elif name == "not" and isinstance(arg, Mapping):
            parts.append(f"not ({predicate_text(arg)})")
        elif name in ("other_medication", "any_medication") and isinstance(arg, Mapping):
            parts.append(f"{_words(name)}: {_selector(dict(arg))}")
        else:
            parts.append(f"{_words(name)}: {_argument(arg)}")
    return "; ".join(parts)


def triggers(rule: Mapping[str, Any]) -> list[Trigger]:
    return [
        Trigger(
            new_order=_selector(dict(t["new_order"])),
            require=tuple(predicate_text(p) for p in t.get("require", [])),
            unless=tuple(predicate_text(p) for p in t.get("unless", [])),
            include_stopping_orders=bool(t.get("include_stopping_orders")),
        )
        for t in rule["triggers"]
    ]


def unique(texts: list[str] | tuple[str, ...]) -> list[str]:
    """Each text once, in order (rules with several triggers often repeat a condition)."""
    return list(dict.fromkeys(texts))


def indicator_text(rule: Mapping[str, Any]) -> str:
    return _indicator(dict(rule))


def indicator_cases(rule: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(indicator, when) pairs after the default, for the rule page."""
    return [(c["value"], predicate_text(c["when"])) for c in rule["indicator"].get("cases", [])]


def citations(rule: Mapping[str, Any], knowledge: Any) -> list[Mapping[str, Any]]:
    return [{"id": sid, **knowledge.sources[sid]} for sid in rule["card"]["citations"]]


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def review(rule: Mapping[str, Any], today: date) -> dict[str, Any] | None:
    """The rule's `review:` block as labelled rows, with `overdue` when next_review has passed."""
    block = rule.get("review")
    if not isinstance(block, Mapping):
        return None
    rows = [(label, str(block[key])) for key, label in REVIEW_FIELDS if block.get(key) not in (None, "")]
    known = {key for key, _ in REVIEW_FIELDS}
    rows += [(_words(str(k)).capitalize(), str(v)) for k, v in block.items() if k not in known]
    due = _as_date(block.get("next_review"))
    return {"rows": rows, "overdue": due is not None and due < today, "next_review": due}
