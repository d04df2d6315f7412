"""The pure core: facts + rules -> findings. No Flask, no I/O; the clock is in the facts.

A rule (cards/rules/<id>.yaml) lists triggers; each names the new orders that can trigger it and
the predicates that must (`require`) or must not (`unless`) hold for that order. Predicates are a
small fixed vocabulary, parameterised entirely by the rule file. Every predicate returns the
evidence it matched, so a card can show exactly what it found.

One finding per rule per response: several new orders triggering the same rule are merged into
one card naming all of them, with the most severe indicator among them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .facts import Drug, Facts
from .records import Concept, ConditionEntry, ObservationEntry
from .terminology import UNSPECIFIED, Terminology

SEVERITY = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Evidence:
    """Something a predicate matched.

    kind: medication | condition | lab | no-lab | dose | reason | patient.
    """

    kind: str
    drug: Drug | None = None
    condition: ConditionEntry | None = None
    lab: str | None = None
    observation: ObservationEntry | None = None
    labs: tuple[str, ...] = ()
    drugs: tuple[Drug, ...] = ()
    total_mg: float | None = None
    limit_mg: float | None = None
    concept: Concept | None = None
    age: int | None = None
    sex: str | None = None

    def key(self) -> tuple[Any, ...]:
        return (
            self.kind,
            self.drug.entry.ref if self.drug else None,
            self.condition.ref if self.condition else None,
            self.lab,
            self.observation.ref if self.observation else None,
            self.labs,
            tuple(d.entry.ref for d in self.drugs),
            self.total_mg,
            self.limit_mg,
            self.concept.text if self.concept else None,
            self.age,
            self.sex,
        )


Result = tuple[bool, list[Evidence]]


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


def matches(drug: Drug, selector: Mapping[str, Any]) -> bool:
    """Does a recognised drug fall under a rule's drug selector (ingredients/classes + routes)?"""
    routes = selector.get("routes")
    if routes is not None and drug.route_key not in routes:
        return False
    wanted_ingredients = selector.get("ingredients")
    wanted_classes = selector.get("classes")
    if wanted_ingredients and drug.ingredients & set(wanted_ingredients):
        return True
    return bool(wanted_classes and drug.classes & set(wanted_classes))


class Scope:
    """Evaluates predicates for one triggering order against the facts."""

    def __init__(self, facts: Facts, order: Drug, knowledge: Any) -> None:
        self.facts = facts
        self.order = order
        self.knowledge = knowledge
        self.terminology: Terminology = knowledge.terminology
        self._dispatch: dict[str, Callable[[Any], Result]] = {
            "any": self._any,
            "all": self._all,
            "not": self._not,
            "context": self._context,
            "order_reason": self._order_reason,
            "order_route": self._order_route,
            "order_is": self._order_is,
            "age_at_least": self._age_at_least,
            "sex": self._sex,
            "other_ingredient_medication": self._other_ingredient_medication,
            "other_medication": self._other_medication,
            "any_medication": self._any_medication,
            "no_recent_result": self._no_recent_result,
            "latest_result_high": self._latest_result_high,
            "latest_result_below": self._latest_result_below,
            "daily_dose_above": self._daily_dose_above,
            "distinct_ingredients": self._distinct_ingredients,
            "total_daily_dose": self._total_daily_dose,
            "order_daily_dose": self._order_daily_dose,
            "stops_or_reduces": self._stops_or_reduces,
        }

    def test(self, predicate: Mapping[str, Any]) -> Result:
        ((name, argument),) = predicate.items()
        return self._dispatch[name](argument)

    def test_all(self, predicates: Iterable[Mapping[str, Any]]) -> Result:
        evidence: list[Evidence] = []
        for predicate in predicates:
            ok, found = self.test(predicate)
            if not ok:
                return False, []
            evidence.extend(found)
        return True, evidence

    # -------------------------------------------------------------- logic
    def _any(self, predicates: Sequence[Mapping[str, Any]]) -> Result:
        hits: list[Evidence] = []
        held = False
        for predicate in predicates:
            ok, found = self.test(predicate)
            if ok:
                held = True
                hits.extend(found)
        return held, hits

    def _all(self, predicates: Sequence[Mapping[str, Any]]) -> Result:
        return self.test_all(predicates)

    def _not(self, predicate: Mapping[str, Any]) -> Result:
        ok, _ = self.test(predicate)
        return not ok, []

    # -------------------------------------------------------------- patient context
    def _context(self, context_id: str) -> Result:
        spec = self.knowledge.contexts[context_id]
        evidence = [
            Evidence("condition", condition=c)
            for c, sets in self.facts.conditions
            if sets & set(spec["conditions"])
        ]
        meds = spec.get("medications")
        if meds:
            pool = self.facts.starting() + self.facts.existing()
            evidence += [
                Evidence("medication", drug=d) for d in pool if matches(d, meds) and d is not self.order
            ]
            if matches(self.order, meds):
                evidence.append(Evidence("medication", drug=self.order))
        for vs in spec.get("order_reasons", []):
            for drug in self.facts.new_orders + self.facts.drafts:
                for reason in drug.entry.reasons:
                    if self.terminology.matches(vs, reason):
                        evidence.append(Evidence("reason", drug=drug, concept=reason))
        return bool(evidence), evidence

    def _order_reason(self, valueset_id: str) -> Result:
        hits = [
            Evidence("reason", drug=self.order, concept=r)
            for r in self.order.entry.reasons
            if self.terminology.matches(valueset_id, r)
        ]
        return bool(hits), hits

    def _order_route(self, routes: Sequence[str]) -> Result:
        if self.order.route:
            return self.order.route in routes, []
        # A stop with no route affects whatever route is active: judge by what it stops.
        affected = [d for d in self.facts.active if d.ingredients & self.order.ingredients]
        return any(d.route_key in routes for d in affected), []

    def _order_is(self, selector: Mapping[str, Any]) -> Result:
        return matches(self.order, selector), []

    # -------------------------------------------------------------- the patient
    def _patient_evidence(self) -> Evidence:
        patient = self.facts.patient
        return Evidence(
            "patient", age=self.facts.age_at_order(self.order), sex=patient.gender if patient else None
        )

    def _age_at_least(self, years: int) -> Result:
        """Age on the order's date; unknown (no birth date) never meets a threshold."""
        age = self.facts.age_at_order(self.order)
        ok = age is not None and age >= years
        return ok, [self._patient_evidence()] if ok else []

    def _sex(self, value: str) -> Result:
        patient = self.facts.patient
        ok = patient is not None and patient.gender == value
        return ok, [self._patient_evidence()] if ok else []

    # -------------------------------------------------------------- medications
    def _others(self) -> tuple[Drug, ...]:
        return tuple(d for d in self.facts.starting() if d is not self.order) + self.facts.existing()

    def _other_medication(self, selector: Mapping[str, Any]) -> Result:
        hits = [Evidence("medication", drug=d) for d in self._others() if matches(d, selector)]
        return bool(hits), hits

    def _other_ingredient_medication(self, selector: Mapping[str, Any]) -> Result:
        """Like `other_medication`, but only drugs of an ingredient the new order does not contain:
        a new order of the same ingredient renews or re-doses a therapy, it does not duplicate it."""
        hits = [
            Evidence("medication", drug=d)
            for d in self._others()
            if matches(d, selector) and not d.ingredients & self.order.ingredients
        ]
        return bool(hits), hits

    def _any_medication(self, selector: Mapping[str, Any]) -> Result:
        pool = self.facts.starting() + self.facts.existing()
        hits = [Evidence("medication", drug=d) for d in pool if matches(d, selector)]
        return bool(hits), hits

    def _pool(self, among: str) -> tuple[Drug, ...]:
        if among == "active":
            return tuple(d for d in self.facts.active if not self.facts.is_stopped(d))
        if among == "active_records":  # what the record says is active, before any draft stops it
            return self.facts.active
        return self.facts.existing()

    def _distinct_ingredients(self, arg: Mapping[str, Any]) -> Result:
        drugs = [d for d in self._pool(arg["among"]) if matches(d, arg["of"])]
        ingredients = {i for d in drugs for i in d.ingredients}
        ok = len(ingredients) >= arg["at_least"]
        return ok, [Evidence("medication", drug=d) for d in drugs] if ok else []

    def _total_daily_dose(self, arg: Mapping[str, Any]) -> Result:
        drugs = [d for d in self._pool(arg["among"]) if matches(d, arg["of"]) and d.daily_mg is not None]
        total = sum(d.daily_mg for d in drugs if d.daily_mg is not None)
        ok = bool(drugs) and total >= arg["at_least_mg"]
        return ok, [Evidence("dose", drugs=tuple(drugs), total_mg=total)] if ok else []

    def _order_daily_dose(self, arg: Mapping[str, Any]) -> Result:
        dose = self.order.daily_mg
        ok = matches(self.order, arg["of"]) and dose is not None and dose >= arg["at_least_mg"]
        return ok, [Evidence("dose", drugs=(self.order,), total_mg=dose)] if ok else []

    def _daily_dose_above(self, arg: Mapping[str, Any]) -> Result:
        if self.order.daily_mg is None:
            return False, []
        for limit in arg["limits"]:
            if not matches(self.order, limit["of"]):
                continue
            same = [
                d
                for d in self.facts.starting()
                if matches(d, limit["of"])
                and d.ingredients == self.order.ingredients
                and d.daily_mg is not None
            ]
            total = sum(d.daily_mg for d in same if d.daily_mg is not None)
            if total > limit["max_mg"]:
                return True, [Evidence("dose", drugs=tuple(same), total_mg=total, limit_mg=limit["max_mg"])]
        return False, []

    def _stops_or_reduces(self, arg: Mapping[str, Any]) -> Result:
        order = self.order
        same_ingredient = [
            d for d in self.facts.active if matches(d, arg["of"]) and d.ingredients & order.ingredients
        ]
        if order.stops:
            affected = [d for d in same_ingredient if order.route is None or d.route_key == order.route_key]
            replacements = [
                d
                for d in self.facts.starting()
                if d.ingredients & order.ingredients and any(d.route_key == a.route_key for a in affected)
            ]
            if affected and not replacements:
                return True, [Evidence("medication", drug=d) for d in affected]
            if not affected:
                return False, []
            return self._cut(affected, replacements, arg["reduction_at_least"])
        affected = [d for d in same_ingredient if d.route_key == order.route_key]
        if not affected:
            return False, []
        new_same_route = [
            d
            for d in self.facts.starting()
            if d.ingredients & order.ingredients and d.route_key == order.route_key
        ]
        return self._cut(affected, new_same_route, arg["reduction_at_least"])

    @staticmethod
    def _cut(old: Sequence[Drug], new: Sequence[Drug], reduction: float) -> Result:
        if any(d.daily_mg is None for d in list(old) + list(new)):
            return False, []
        old_total = sum(d.daily_mg for d in old if d.daily_mg is not None)
        new_total = sum(d.daily_mg for d in new if d.daily_mg is not None)
        if old_total <= 0 or new_total > old_total * (1 - reduction):
            return False, []
        evidence = [Evidence("medication", drug=d) for d in old]
        evidence.append(Evidence("dose", drugs=tuple(new), total_mg=new_total, limit_mg=old_total))
        return True, evidence

    # -------------------------------------------------------------- labs
    def _no_recent_result(self, arg: Mapping[str, Any]) -> Result:
        labs = tuple(arg["labs"])
        ok = all(self.facts.labs.get(lab) is None for lab in labs)
        return ok, [Evidence("no-lab", labs=labs)] if ok else []

    def _latest_result_high(self, arg: Mapping[str, Any]) -> Result:
        flags = {f.upper() for f in arg.get("flags", [])}
        hits = []
        for lab in arg["labs"]:
            obs = self.facts.labs.get(lab)
            if obs is None:
                continue
            above = obs.value is not None and obs.range_high is not None and obs.value > obs.range_high
            if above or flags & set(obs.interpretation):
                hits.append(Evidence("lab", lab=lab, observation=obs))
        return bool(hits), hits

    def _latest_result_below(self, arg: Mapping[str, Any]) -> Result:
        obs = self.facts.labs.get(arg["lab"])
        if obs is None or obs.value is None:
            return False, []
        comparator = getattr(obs, "comparator", None) or ""
        if comparator.startswith(">"):
            return False, []
        below = obs.value < arg["value"] or (comparator == "<=" and obs.value <= arg["value"])
        return below, [Evidence("lab", lab=arg["lab"], observation=obs)] if below else []


def relevant_rules(knowledge: Any, facts_new: Sequence[Drug]) -> list[Mapping[str, Any]]:
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


def evaluate(knowledge: Any, facts: Facts, rules: Sequence[Mapping[str, Any]] | None = None) -> list[Finding]:
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


__all__ = ["Evidence", "Finding", "Scope", "evaluate", "matches", "relevant_rules", "UNSPECIFIED"]
