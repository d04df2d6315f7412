"""The pure core: facts + rules -> findings. No Flask, no I/O; the clock is in the facts.

A rule (cards/rules/<id>.yaml) lists triggers; each names the new orders that can trigger it and
the predicates that must (`require`) or must not (`unless`) hold for that order. Predicates are a
small fixed vocabulary, parameterised entirely by the rule file. Every predicate returns the
evidence it matched, so a card can show exactly what it found.

One finding per rule per response: several new orders triggering the same rule are merged into
one card naming all of them, with the most severe indicator among them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .facts import Drug, Facts
from .knowledge import Knowledge
from .predicates import PREDICATES, Evidence, Predicate, Result, matches
from .terminology import UNSPECIFIED, Terminology

SEVERITY = {"info": 0, "warning": 1, "critical": 2}


@dataclass
class Finding:
    rule: Mapping[str, Any]
    orders: list[Drug] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    indicator: str = "info"
    scopes: list[Scope] = field(default_factory=list)

    def holds(self, predicate: Mapping[str, Any]) -> bool:
        """A card-level condition (`when`) holds if it holds for any triggering order."""
        return self.test(predicate)[0]

    def test(self, predicate: Mapping[str, Any]) -> Result:
        """Like `holds`, with the evidence of the first triggering order it holds for."""
        for scope in self.scopes:
            ok, evidence = scope.test(predicate)
            if ok:
                return True, evidence
        return False, []


class Scope:
    """Evaluates predicates for one triggering order against the facts (a `predicates.Subject`).

    Dispatch is by name through the declarations in service/predicates.py: a new predicate is
    declared there and nowhere else.
    """

    def __init__(self, facts: Facts, order: Drug, knowledge: Knowledge) -> None:
        self.facts = facts
        self.order = order
        self.knowledge = knowledge
        self.terminology: Terminology = knowledge.terminology
        self.contexts: Mapping[str, Mapping[str, Any]] = knowledge.contexts

    def test(self, predicate: Predicate) -> Result:
        ((name, argument),) = predicate.items()
        return PREDICATES[name].evaluate(self, argument)

    def test_all(self, predicates: Iterable[Predicate]) -> Result:
        evidence: list[Evidence] = []
        for predicate in predicates:
            ok, found = self.test(predicate)
            if not ok:
                return False, []
            evidence.extend(found)
        return True, evidence


def relevant_rules(knowledge: Knowledge, facts_new: Sequence[Drug]) -> list[Mapping[str, Any]]:
    """Rules that some new order could trigger: only these need patient data fetched.

    No recognised new order (a drug outside every value set) means no rule, whatever their number:
    the irrelevant path does not grow with the knowledge base.
    """
    if not facts_new:
        return []
    out = []
    for rule in knowledge.rules:
        if rule["status"] == "retired":
            continue
        for trigger in rule["triggers"]:
            include_stops = trigger.get("include_stopping_orders", False)
            if any(matches(d, trigger["new_order"]) and (include_stops or not d.stops) for d in facts_new):
                out.append(rule)
                break
    return out


def _dedupe(evidence: Iterable[Evidence]) -> list[Evidence]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for item in evidence:
        key = item.key()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _indicator(rule: Mapping[str, Any], scope: Scope) -> str:
    for case in rule["indicator"].get("cases", []):
        if scope.test(case["when"])[0]:
            return str(case["value"])
    return str(rule["indicator"]["default"])


def evaluate(
    knowledge: Knowledge, facts: Facts, rules: Sequence[Mapping[str, Any]] | None = None
) -> list[Finding]:
    """Findings of every rule that fires: most severe first, then in rule-file order."""
    findings = []
    for rule in rules if rules is not None else knowledge.rules:
        if rule["status"] == "retired":
            continue
        finding = Finding(rule)
        for trigger in rule["triggers"]:
            include_stops = trigger.get("include_stopping_orders", False)
            for order in facts.new_orders:
                if (order.stops and not include_stops) or not matches(order, trigger["new_order"]):
                    continue
                if any(order is o for o in finding.orders):
                    continue
                scope = Scope(facts, order, knowledge)
                ok, evidence = scope.test_all(trigger.get("require", []))
                if not ok or any(scope.test(p)[0] for p in trigger.get("unless", [])):
                    continue
                finding.orders.append(order)
                finding.scopes.append(scope)
                finding.evidence.extend(evidence)
                level = _indicator(rule, scope)
                first = len(finding.orders) == 1
                finding.indicator = (
                    level if first else max(finding.indicator, level, key=SEVERITY.__getitem__)
                )
        if finding.orders:
            finding.evidence = _dedupe(finding.evidence)
            findings.append(finding)
    # Most severe first; rule-file order among equals (a stable sort).
    findings.sort(key=lambda f: -SEVERITY[f.indicator])
    return findings


__all__ = ["Evidence", "Finding", "Result", "Scope", "evaluate", "matches", "relevant_rules", "UNSPECIFIED"]
