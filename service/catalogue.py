"""The rules catalogue people read: `spasticity-cds rules` and docs/RULES.md, from cards/ alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import predicates
from .knowledge import Knowledge


def _selector(selector: Mapping[str, Any]) -> str:
    what = selector.get("ingredients") or selector.get("classes") or []
    routes = selector.get("routes")
    text = " or ".join(what)
    return f"{text} ({'/'.join(routes)})" if routes else f"{text} (any route)"


def _indicator(rule: Mapping[str, Any]) -> str:
    spec = rule["indicator"]
    cases = [f"{c['value']} when {_when(c['when'])}" for c in spec.get("cases", [])]
    return ", ".join([spec["default"], *cases])


def _when(predicate: Mapping[str, Any]) -> str:
    """A predicate as the catalogue reads it: the phrase its declaration gives."""
    return predicates.phrase(predicate)


STATUS_MEANING = {
    "active": "evaluated and shown",
    "experimental": "evaluated and logged, card held back (not shown)",
    "retired": "not evaluated",
}


def _review(rule: Mapping[str, Any]) -> str:
    review = rule["review"]
    return (
        f"author {review['author']}; reviewer {review['reviewer']}; last reviewed"
        f" {review['last_reviewed']}; next review {review['next_review']}"
    )


def render_markdown(knowledge: Knowledge) -> str:
    """docs/RULES.md. A test regenerates it and fails when the committed file is stale."""
    lines = [
        "# Rules catalogue",
        "",
        "Generated from `cards/` by `spasticity-cds rules --markdown` (`make rules-doc`);"
        " do not edit by hand.",
        f"Knowledge version {knowledge.version}. Each card carries the rule id in `source.topic.code`"
        f" (system `{knowledge.presentation['rule_system']}`).",
        "",
        "Status: " + "; ".join(f"`{s}` {m}" for s, m in STATUS_MEANING.items()) + " (docs/KNOWLEDGE.md).",
        "",
        "| rule id | title | indicator | status | next review |",
        "|---|---|---|---|---|",
    ]
    for rule in knowledge.rules:
        lines.append(
            f"| `{rule['id']}` | {rule['title']} | {_indicator(rule)} | {rule['status']}"
            f" | {rule['review']['next_review']} |"
        )
    for rule in knowledge.rules:
        lines += ["", f"## `{rule['id']}`: {rule['title']}", ""]
        lines.append(f"**When** {rule['description']['when']}")
        lines += ["", f"**Then** {rule['description']['then']}", ""]
        triggers = "; ".join(_selector(t["new_order"]) for t in rule["triggers"])
        lines.append(f"- Triggered by a new order of: {triggers}")
        lines.append(f"- Indicator: {_indicator(rule)}")
        lines.append(f"- Data needed: {', '.join(rule['needs']) or 'the draft orders only'}")
        status = rule["status"]
        lines.append(f"- Version {rule['version']}, status {status} ({STATUS_MEANING[status]})")
        lines.append(f"- Review: {_review(rule)}")
        lines += ["", "Evidence:", ""]
        for source_id in rule["card"]["citations"]:
            source = knowledge.sources[source_id]
            lines.append(f"- [{source['title']}]({source['url']}) ({source['verification']})")
    return "\n".join(lines) + "\n"


def render_text(knowledge: Knowledge) -> str:
    """A terminal listing: each rule with its trigger, indicator and evidence."""
    out = []
    for rule in knowledge.rules:
        out.append(f"{rule['id']}  [{_indicator(rule)}]  {rule['title']}")
        status = rule["status"]
        out.append(f"  status: {status} ({STATUS_MEANING[status]}), version {rule['version']}")
        out.append(f"  when: {rule['description']['when']}")
        out.append(f"  then: {rule['description']['then']}")
        out.append(f"  review: {_review(rule)}")
        for source_id in rule["card"]["citations"]:
            source = knowledge.sources[source_id]
            out.append(f"  evidence: {source['title']} <{source['url']}>")
        out.append("")
    return "\n".join(out)
