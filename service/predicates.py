"""The predicate vocabulary of the rules, each predicate declared once.

A rule's `require`, `unless` and `when` entries are predicates: `{name: argument}`. Each one is
declared here, in one `@predicate(...)` block, with everything the rest of the service needs:

- the JSON Schema of its argument (tools/rule_schema.py writes them into
  schemas/knowledge/rule.schema.json; a test fails when the committed schema is stale);
- the references its argument carries (contexts, value sets of a kind, sources, drug selectors,
  nested predicates), which the knowledge checker resolves at start-up;
- how it reads in the rules catalogue (`spasticity-cds rules`, docs/RULES.md);
- the function that evaluates it for one triggering order, returning the evidence it matched.

The Found section of a card is written from the evidence (its `kind`), so a new predicate that
returns the existing evidence kinds is shown without touching service/cards.py.

This module sits below service/engine.py (which dispatches through `PREDICATES`),
service/knowledge.py and service/catalogue.py; it holds no clinical facts, only the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .facts import Drug, Facts
from .records import Concept, ConditionEntry, ObservationEntry
from .terminology import Terminology

Predicate = Mapping[str, Any]  # one `{name: argument}` entry of a rule file
Selector = Mapping[str, Any]  # a drug selector: ingredients / classes / routes


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

    def key(self) -> tuple[object, ...]:
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


def matches(drug: Drug, selector: Selector) -> bool:
    """Does a recognised drug fall under a rule's drug selector (ingredients/classes + routes)?"""
    routes = selector.get("routes")
    if routes is not None and drug.route_key not in routes:
        return False
    wanted_ingredients = selector.get("ingredients")
    wanted_classes = selector.get("classes")
    # isdisjoint takes the rule's list as it is: no set built per drug and call.
    if wanted_ingredients and not drug.ingredients.isdisjoint(wanted_ingredients):
        return True
    return bool(wanted_classes and not drug.classes.isdisjoint(wanted_classes))


class Subject(Protocol):
    """What a predicate is evaluated against: one triggering order, the facts, the knowledge."""

    @property
    def facts(self) -> Facts: ...

    @property
    def order(self) -> Drug: ...

    @property
    def terminology(self) -> Terminology: ...

    @property
    def contexts(self) -> Mapping[str, Mapping[str, Any]]: ...

    def test(self, predicate: Predicate) -> Result: ...

    def test_all(self, predicates: Iterable[Predicate]) -> Result: ...


RefKind = Literal["context", "reason", "lab", "source", "selector", "predicate"]
Ref = tuple[RefKind, Any]  # (what it is, the id / selector / nested predicate)
Evaluator = Callable[[Subject, Any], Result]


@dataclass(frozen=True)
class PredicateSpec:
    """One predicate's declaration: see the module docstring."""

    name: str
    schema: Mapping[str, Any]
    evaluate: Evaluator
    refs: Callable[[Any], Iterable[Ref]]
    phrase: Callable[[Any], str]


PREDICATES: dict[str, PredicateSpec] = {}


def _no_refs(_arg: Any) -> Iterable[Ref]:
    return ()


def _plain_phrase(name: str) -> Callable[[Any], str]:
    """The catalogue's default reading: the name, then a scalar or list argument."""

    def phrase(arg: Any) -> str:
        if isinstance(arg, dict):
            return name
        if isinstance(arg, list):
            return f"{name} {'/'.join(str(a) for a in arg)}"
        return f"{name} {arg}"

    return phrase


def predicate(
    name: str,
    schema: Mapping[str, Any],
    *,
    refs: Callable[[Any], Iterable[Ref]] = _no_refs,
    phrase: Callable[[Any], str] | None = None,
) -> Callable[[Evaluator], Evaluator]:
    """Declare a predicate: its argument schema, references and catalogue phrase; the decorated
    function evaluates it. Declaring the same name twice is a programming error."""

    def register(evaluate: Evaluator) -> Evaluator:
        if name in PREDICATES:
            raise ValueError(f"predicate {name!r} is declared twice")
        PREDICATES[name] = PredicateSpec(name, schema, evaluate, refs, phrase or _plain_phrase(name))
        return evaluate

    return register


# ----------------------------------------------------------------------- derived views
def schema_definition() -> dict[str, Any]:
    """The `predicate` definition of schemas/knowledge/rule.schema.json: exactly one known name."""
    return {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {name: dict(spec.schema) for name, spec in PREDICATES.items()},
        "additionalProperties": False,
    }


def walk(node: Predicate) -> Iterator[tuple[str, Any]]:
    """Every (name, argument) in a predicate, nested ones included (depth first)."""
    for name, arg in node.items():
        yield name, arg
        spec = PREDICATES.get(name)
        if spec is None:
            continue
        for kind, ref in spec.refs(arg):
            if kind == "predicate":
                yield from walk(ref)


def references(node: Predicate) -> Iterator[tuple[str, Ref]]:
    """Every (predicate name, reference) in a predicate that the knowledge checker must resolve."""
    for name, arg in walk(node):
        spec = PREDICATES.get(name)
        if spec is None:
            continue
        for ref in spec.refs(arg):
            if ref[0] != "predicate":
                yield name, ref


def phrase(node: Predicate) -> str:
    """How a predicate reads in the rules catalogue."""
    ((name, arg),) = node.items()
    return PREDICATES[name].phrase(arg)


# ----------------------------------------------------------------------- schema fragments
_SELECTOR = {"$ref": "#/$defs/selector"}
_PREDICATE = {"$ref": "#/$defs/predicate"}
_STRINGS = {"type": "array", "minItems": 1, "items": {"type": "string"}}


def _selector_ref(arg: Any) -> Iterable[Ref]:
    return [("selector", arg)]


def _of_ref(arg: Any) -> Iterable[Ref]:
    return [("selector", arg["of"])]


def _labs_refs(arg: Any) -> Iterable[Ref]:
    return [("lab", lab) for lab in arg["labs"]]


def _lab_ref(arg: Any) -> Iterable[Ref]:
    return [("lab", arg["lab"])]


# ----------------------------------------------------------------------- logic
@predicate(
    "any",
    {"type": "array", "minItems": 1, "items": _PREDICATE},
    refs=lambda arg: [("predicate", p) for p in arg],
)
def _any(s: Subject, predicates: Sequence[Predicate]) -> Result:
    hits: list[Evidence] = []
    held = False
    for p in predicates:
        ok, found = s.test(p)
        if ok:
            held = True
            hits.extend(found)
    return held, hits


@predicate(
    "all",
    {"type": "array", "minItems": 1, "items": _PREDICATE},
    refs=lambda arg: [("predicate", p) for p in arg],
)
def _all(s: Subject, predicates: Sequence[Predicate]) -> Result:
    return s.test_all(predicates)


@predicate("not", _PREDICATE, refs=lambda arg: [("predicate", arg)])
def _not(s: Subject, p: Predicate) -> Result:
    ok, _ = s.test(p)
    return not ok, []


# ----------------------------------------------------------------------- patient context
@predicate("context", {"type": "string"}, refs=lambda arg: [("context", arg)])
def _context(s: Subject, context_id: str) -> Result:
    spec = s.contexts[context_id]
    facts, order = s.facts, s.order
    evidence = [
        Evidence("condition", condition=c) for c, sets in facts.conditions if sets & set(spec["conditions"])
    ]
    meds = spec.get("medications")
    if meds:
        pool = facts.starting() + facts.existing()
        evidence += [Evidence("medication", drug=d) for d in pool if matches(d, meds) and d is not order]
        if matches(order, meds):
            evidence.append(Evidence("medication", drug=order))
    for vs in spec.get("order_reasons", []):
        for drug in facts.new_orders + facts.drafts:
            for reason in drug.entry.reasons:
                if s.terminology.matches(vs, reason):
                    evidence.append(Evidence("reason", drug=drug, concept=reason))
    return bool(evidence), evidence


@predicate("order_reason", {"type": "string"}, refs=lambda arg: [("reason", arg)])
def _order_reason(s: Subject, valueset_id: str) -> Result:
    hits = [
        Evidence("reason", drug=s.order, concept=r)
        for r in s.order.entry.reasons
        if s.terminology.matches(valueset_id, r)
    ]
    return bool(hits), hits


@predicate("order_route", {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/route"}})
def _order_route(s: Subject, routes: Sequence[str]) -> Result:
    order = s.order
    if order.route:
        return order.route in routes, []
    # A stop with no route affects whatever route is active: judge by what it stops.
    affected = [d for d in s.facts.active if d.ingredients & order.ingredients]
    return any(d.route_key in routes for d in affected), []


# ----------------------------------------------------------------------- medications (1)
def _others(s: Subject) -> tuple[Drug, ...]:
    return tuple(d for d in s.facts.starting() if d is not s.order) + s.facts.existing()


@predicate("other_medication", _SELECTOR, refs=_selector_ref)
def _other_medication(s: Subject, selector: Selector) -> Result:
    hits = [Evidence("medication", drug=d) for d in _others(s) if matches(d, selector)]
    return bool(hits), hits


@predicate("other_ingredient_medication", _SELECTOR, refs=_selector_ref)
def _other_ingredient_medication(s: Subject, selector: Selector) -> Result:
    """Like `other_medication`, but only drugs of an ingredient the new order does not contain:
    a new order of the same ingredient renews or re-doses a therapy, it does not duplicate it."""
    hits = [
        Evidence("medication", drug=d)
        for d in _others(s)
        if matches(d, selector) and not d.ingredients & s.order.ingredients
    ]
    return bool(hits), hits


@predicate("order_is", _SELECTOR, refs=_selector_ref)
def _order_is(s: Subject, selector: Selector) -> Result:
    return matches(s.order, selector), []


# ----------------------------------------------------------------------- the patient
def _patient_evidence(s: Subject) -> Evidence:
    patient = s.facts.patient
    return Evidence("patient", age=s.facts.age_at_order(s.order), sex=patient.gender if patient else None)


@predicate("age_at_least", {"type": "integer", "minimum": 0, "maximum": 150})
def _age_at_least(s: Subject, years: int) -> Result:
    """Age on the order's date; unknown (no birth date) never meets a threshold."""
    age = s.facts.age_at_order(s.order)
    ok = age is not None and age >= years
    return ok, [_patient_evidence(s)] if ok else []


@predicate("sex", {"enum": ["female", "male", "other", "unknown"]})
def _sex(s: Subject, value: str) -> Result:
    patient = s.facts.patient
    ok = patient is not None and patient.gender == value
    return ok, [_patient_evidence(s)] if ok else []


# ----------------------------------------------------------------------- medications (2)
@predicate("any_medication", _SELECTOR, refs=_selector_ref)
def _any_medication(s: Subject, selector: Selector) -> Result:
    pool = s.facts.starting() + s.facts.existing()
    hits = [Evidence("medication", drug=d) for d in pool if matches(d, selector)]
    return bool(hits), hits


# ----------------------------------------------------------------------- labs (1)
@predicate(
    "no_recent_result",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["labs"],
        "properties": {"labs": _STRINGS},
    },
    refs=_labs_refs,
)
def _no_recent_result(s: Subject, arg: Mapping[str, Any]) -> Result:
    labs = tuple(arg["labs"])
    ok = all(s.facts.labs.get(lab) is None for lab in labs)
    return ok, [Evidence("no-lab", labs=labs)] if ok else []


@predicate(
    "latest_result_high",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["labs"],
        "properties": {"labs": _STRINGS, "flags": {"type": "array", "items": {"type": "string"}}},
    },
    refs=_labs_refs,
)
def _latest_result_high(s: Subject, arg: Mapping[str, Any]) -> Result:
    flags = {f.upper() for f in arg.get("flags", [])}
    hits = []
    for lab in arg["labs"]:
        obs = s.facts.labs.get(lab)
        if obs is None:
            continue
        above = obs.value is not None and obs.range_high is not None and obs.value > obs.range_high
        if above or flags & set(obs.interpretation):
            hits.append(Evidence("lab", lab=lab, observation=obs))
    return bool(hits), hits


_LAB_VALUE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["lab", "value"],
    "properties": {"lab": {"type": "string"}, "value": {"type": "number"}},
}


@predicate("latest_result_below", _LAB_VALUE, refs=_lab_ref)
def _latest_result_below(s: Subject, arg: Mapping[str, Any]) -> Result:
    """The latest result of a lab value set is surely below a value: "<30" is below 30, "<=30" is
    not (it may be 30), and a bound above (">60", ">=60") never is. (Until 2026-12-07 "<30" at 30
    read as not below, which silenced the severe-renal warning for a lab reporting eGFR "<30".)"""
    obs = s.facts.labs.get(arg["lab"])
    if obs is None or obs.value is None:
        return False, []
    comparator = obs.comparator or ""
    if comparator.startswith(">"):
        return False, []
    below = obs.value < arg["value"] or (comparator == "<" and obs.value <= arg["value"])
    return below, [Evidence("lab", lab=arg["lab"], observation=obs)] if below else []


@predicate(
    "latest_result_above",
    _LAB_VALUE,
    refs=_lab_ref,
    phrase=lambda arg: f"latest {arg['lab']} above {arg['value']}",
)
def _latest_result_above(s: Subject, arg: Mapping[str, Any]) -> Result:
    """The latest result of a lab value set is surely above a value: ">90" is above 90, ">=90" is
    not (it may be 90), and a bound below ("<60", "<=60") never is."""
    obs = s.facts.labs.get(arg["lab"])
    if obs is None or obs.value is None:
        return False, []
    comparator = obs.comparator or ""
    if comparator.startswith("<"):
        return False, []
    above = obs.value > arg["value"] or (comparator == ">" and obs.value >= arg["value"])
    return above, [Evidence("lab", lab=arg["lab"], observation=obs)] if above else []


# ----------------------------------------------------------------------- doses
def _pool(s: Subject, among: str) -> tuple[Drug, ...]:
    facts = s.facts
    if among == "active":
        return tuple(d for d in facts.active if not facts.is_stopped(d))
    if among == "active_records":  # what the record says is active, before any draft stops it
        return facts.active
    return facts.existing()


@predicate(
    "daily_dose_above",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["limits"],
        "properties": {
            "limits": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["of", "max_mg", "source"],
                    "properties": {
                        "of": _SELECTOR,
                        "max_mg": {"type": "number", "exclusiveMinimum": 0},
                        "source": {"type": "string"},
                    },
                },
            }
        },
    },
    refs=lambda arg: [
        ref for limit in arg["limits"] for ref in (("selector", limit["of"]), ("source", limit["source"]))
    ],
)
def _daily_dose_above(s: Subject, arg: Mapping[str, Any]) -> Result:
    order = s.order
    if order.daily_mg is None:
        return False, []
    for limit in arg["limits"]:
        if not matches(order, limit["of"]):
            continue
        same = [
            d
            for d in s.facts.starting()
            if matches(d, limit["of"]) and d.ingredients == order.ingredients and d.daily_mg is not None
        ]
        total = sum(d.daily_mg for d in same if d.daily_mg is not None)
        if total > limit["max_mg"]:
            return True, [Evidence("dose", drugs=tuple(same), total_mg=total, limit_mg=limit["max_mg"])]
    return False, []


@predicate(
    "distinct_ingredients",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["among", "of", "at_least"],
        "properties": {
            "among": {"enum": ["existing", "active"]},
            "of": _SELECTOR,
            "at_least": {"type": "integer", "minimum": 1},
        },
    },
    refs=_of_ref,
)
def _distinct_ingredients(s: Subject, arg: Mapping[str, Any]) -> Result:
    drugs = [d for d in _pool(s, arg["among"]) if matches(d, arg["of"])]
    ingredients = {i for d in drugs for i in d.ingredients}
    ok = len(ingredients) >= arg["at_least"]
    return ok, [Evidence("medication", drug=d) for d in drugs] if ok else []


@predicate(
    "total_daily_dose",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["among", "of", "at_least_mg"],
        "properties": {
            "among": {"enum": ["existing", "active", "active_records"]},
            "of": _SELECTOR,
            "at_least_mg": {"type": "number", "exclusiveMinimum": 0},
        },
    },
    refs=_of_ref,
)
def _total_daily_dose(s: Subject, arg: Mapping[str, Any]) -> Result:
    drugs = [d for d in _pool(s, arg["among"]) if matches(d, arg["of"]) and d.daily_mg is not None]
    total = sum(d.daily_mg for d in drugs if d.daily_mg is not None)
    ok = bool(drugs) and total >= arg["at_least_mg"]
    return ok, [Evidence("dose", drugs=tuple(drugs), total_mg=total)] if ok else []


@predicate(
    "order_daily_dose",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["of", "at_least_mg"],
        "properties": {"of": _SELECTOR, "at_least_mg": {"type": "number", "exclusiveMinimum": 0}},
    },
    refs=_of_ref,
)
def _order_daily_dose(s: Subject, arg: Mapping[str, Any]) -> Result:
    dose = s.order.daily_mg
    ok = matches(s.order, arg["of"]) and dose is not None and dose >= arg["at_least_mg"]
    return ok, [Evidence("dose", drugs=(s.order,), total_mg=dose)] if ok else []


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


@predicate(
    "stops_or_reduces",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["of", "reduction_at_least"],
        "properties": {
            "of": _SELECTOR,
            "reduction_at_least": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        },
    },
    refs=_of_ref,
)
def _stops_or_reduces(s: Subject, arg: Mapping[str, Any]) -> Result:
    order, facts = s.order, s.facts
    same_ingredient = [d for d in facts.active if matches(d, arg["of"]) and d.ingredients & order.ingredients]
    if order.stops:
        affected = [d for d in same_ingredient if order.route is None or d.route_key == order.route_key]
        replacements = [
            d
            for d in facts.starting()
            if d.ingredients & order.ingredients and any(d.route_key == a.route_key for a in affected)
        ]
        if affected and not replacements:
            return True, [Evidence("medication", drug=d) for d in affected]
        if not affected:
            return False, []
        return _cut(affected, replacements, arg["reduction_at_least"])
    affected = [d for d in same_ingredient if d.route_key == order.route_key]
    if not affected:
        return False, []
    new_same_route = [
        d for d in facts.starting() if d.ingredients & order.ingredients and d.route_key == order.route_key
    ]
    return _cut(affected, new_same_route, arg["reduction_at_least"])
