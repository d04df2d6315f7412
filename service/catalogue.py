"""The rules catalogue people read: `spasticity-cds rules` and docs/RULES.md, from cards/ alone."""

from __future__ import annotations

from typing import Any


def _selector(selector: dict[str, Any]) -> str:
    what = selector.get("ingredients") or selector.get("classes") or []
    routes = selector.get("routes")
    text = " or ".join(what)
    return f"{text} ({'/'.join(routes)})" if routes else f"{text} (any route)"


def _indicator(rule: dict[str, Any]) -> str:
    spec = rule["indicator"]
    cases = [f"{c['value']} when {_when(c['when'])}" for c in spec.get("cases", [])]
    return ", ".join([spec["default"], *cases])


def _when(predicate: dict[str, Any]) -> str:
    ((name, arg),) = predicate.items()
    if isinstance(arg, dict):
        return f"{name}"
    if isinstance(arg, list):
        return f"{name} {'/'.join(str(a) for a in arg)}"
    return f"{name} {arg}"


def render_markdown(knowledge: Any) -> str:
    """docs/RULES.md. A test regenerates it and fails when the committed file is stale."""
    lines = [
        "# Rules catalogue",
        "",
        "Generated from `cards/` by `spasticity-cds rules --markdown` (`make rules-doc`);"
        " do not edit by hand.",
        f"Knowledge version {knowledge.version}. Each card carries the rule id in `source.topic.code`"
        f" (system `{knowledge.presentation['rule_system']}`).",
        "",
        "| rule id | title | indicator | status |",
        "|---|---|---|---|",
    ]
    for rule in knowledge.rules:
        lines.append(f"| `{rule['id']}` | {rule['title']} | {_indicator(rule)} | {rule['status']} |")
    for rule in knowledge.rules:
        lines += ["", f"## `{rule['id']}`: {rule['title']}", ""]
        lines.append(f"**When** {rule['description']['when']}")
        lines += ["", f"**Then** {rule['description']['then']}", ""]
        triggers = "; ".join(_selector(t["new_order"]) for t in rule["triggers"])
        lines.append(f"- Triggered by a new order of: {triggers}")
        lines.append(f"- Indicator: {_indicator(rule)}")
        lines.append(f"- Data needed: {', '.join(rule['needs']) or 'the draft orders only'}")
        lines.append(f"- Version {rule['version']}, status {rule['status']}")
        lines += ["", "Evidence:", ""]
        for source_id in rule["card"]["citations"]:
            source = knowledge.sources[source_id]
            lines.append(f"- [{source['title']}]({source['url']}) ({source['verification']})")
    return "\n".join(lines) + "\n"


def render_text(knowledge: Any) -> str:
    """A terminal listing: each rule with its trigger, indicator and evidence."""
    out = []
    for rule in knowledge.rules:
        out.append(f"{rule['id']}  [{_indicator(rule)}]  {rule['title']}")
        out.append(f"  when: {rule['description']['when']}")
        out.append(f"  then: {rule['description']['then']}")
        for source_id in rule["card"]["citations"]:
            source = knowledge.sources[source_id]
            out.append(f"  evidence: {source['title']} <{source['url']}>")
        out.append("")
    return "\n".join(out)
