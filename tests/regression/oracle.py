"""The expectation: which of the first nine rules must fire, written from the specification
(../shared/clinical-rules.md), not from the service's output and without service code.

What it reads besides the spec: the codes, ingredient names and brands of cards/valuesets (the data
the spec points to) for drugs and labs, and `condition_classes.yaml` for conditions: every
condition code of the extract classified by hand from the spec's words (each positive with the
phrase of the spec it rests on), so a value set that is too wide or too narrow shows up here.
A condition code the table has not reviewed fails the run (re-extracting forces a review).

The regression drafts are single oral orders on order-sign (every draft is new, no co-drafts, no
stops), so `baclofen-abrupt-withdrawal` can never fire here; the oracle says so rather than guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .drafts import Regimen

HERE = Path(__file__).resolve().parent
VALUESETS = HERE.parent.parent / "cards" / "valuesets"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"

# From the specification's words and tables (clinical-rules.md).
RULES = (
    "baclofen-dantrolene-combination",
    "benzodiazepine-spasticity",
    "cns-depressant-combination",
    "dantrolene-hepatic-disease",
    "dantrolene-liver-monitoring",
    "baclofen-abrupt-withdrawal",
    "intrathecal-baclofen-consideration",
    "antispastic-max-daily-dose",
    "baclofen-renal-impairment",
)
ANTISPASTICS = ("baclofen", "tizanidine", "dantrolene")
LABELLED_MAX_MG = {"baclofen": 80.0, "tizanidine": 36.0, "dantrolene": 400.0}  # antispastic-max-daily-dose
INTRATHECAL_BACLOFEN_MG = 80.0  # intrathecal-baclofen-consideration: oral baclofen 80 mg/day or more
EGFR_SEVERE = 30.0  # baclofen-renal-impairment: eGFR below 30
LOOKBACK_DAYS = 90  # "Labs": default 90 days, inclusive
SPEC_EGFR_CODES = frozenset({"33914-3", "77147-7"})  # "Labs": MDRD codes the spec names
SPEC_DEFAULT_ULN = 40.0  # "Reference range": "a laboratory upper limit of normal such as 40 U/L"
ACTIVE_ORDER = frozenset({"active", "on-hold"})
ACTIVE_STATEMENT = frozenset({"active", "intended"})
NOT_ACTIVE_CLINICAL = frozenset({"remission", "resolved", "inactive"})
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
ABOVE_FLAGS = frozenset({"H", "HH", "A", "AA"})
# "benzodiazepine-spasticity ... unless the order's reason is clearly not spasticity".
EXEMPT_REASON = re.compile(
    r"\b(seizures?|epilep\w*|status epilepticus|alcohol withdrawal|sedation|anaesthesia|anesthesia|"
    r"anxiety|panic|insomnia|dyspnoea|dyspnea|breathlessness|agitation|palliative|end[- ]of[- ]life)\b",
    re.IGNORECASE,
)
# "Spasticity context ... a draft order whose reason names spasticity or muscle spasm".
SPASTICITY_REASON = re.compile(r"\b(spasticity|spastic|muscle spasms?)\b", re.IGNORECASE)


# ------------------------------------------------------------------------------- knowledge data
@dataclass(frozen=True)
class Drugs:
    by_code: Mapping[str, frozenset[str]]  # RxNorm code -> ingredients
    code_route: Mapping[str, str]  # RxNorm code -> route group, where the value set knows it
    words: tuple[tuple[re.Pattern[str], str], ...]  # ingredient / brand word -> ingredient
    benzodiazepines: frozenset[str]
    iv_brands: tuple[re.Pattern[str], ...]


@cache
def drugs() -> Drugs:
    by_code: dict[str, set[str]] = {}
    code_route: dict[str, str] = {}
    words: list[tuple[re.Pattern[str], str]] = []
    benzos: set[str] = set()
    iv_brands = []
    for vs in ("baclofen", "tizanidine", "dantrolene", "benzodiazepines"):
        data = json.loads((VALUESETS / f"{vs}.json").read_text(encoding="utf-8"))
        for ing in data["ingredients"]:
            name = ing["ingredient"]
            if vs == "benzodiazepines":
                benzos.add(name)
            for c in ing.get("codes", []):
                by_code.setdefault(c["code"], set()).add(name)
                if c.get("route"):
                    code_route[c["code"]] = c["route"]
            for word in [*ing.get("names", []), *(b["name"] for b in ing.get("brands", []))]:
                words.append((re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE), name))
            for b in ing.get("brands", []):
                if b.get("route") == "intravenous":
                    iv_brands.append(re.compile(rf"\b{re.escape(b['name'])}\b", re.IGNORECASE))
    return Drugs(
        {k: frozenset(v) for k, v in by_code.items()},
        code_route,
        tuple(words),
        frozenset(benzos),
        tuple(iv_brands),
    )


@dataclass(frozen=True)
class Labs:
    egfr: frozenset[str]
    clearance: frozenset[str]
    alt: frozenset[str]
    ast: frozenset[str]
    default_uln: Mapping[str, tuple[float, frozenset[str] | None]]


def _default_uln(data: Mapping[str, Any]) -> tuple[float, frozenset[str] | None]:
    """The default upper limit a lab value set keeps (the spec asks for one, as data), and the
    units it applies to; the spec's own example (40 U/L) where the value set has none."""
    limit = data.get("default_upper_limit")
    if isinstance(limit, dict) and isinstance(limit.get("value"), int | float):
        units = limit.get("units")
        return float(limit["value"]), (frozenset(units) if units else None)
    return SPEC_DEFAULT_ULN, None


@cache
def labs() -> Labs:
    sets: dict[str, set[str]] = {"egfr": set(SPEC_EGFR_CODES), "clearance": set(), "alt": set(), "ast": set()}
    uln: dict[str, tuple[float, frozenset[str] | None]] = {}
    for path in sorted(VALUESETS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("kind") != "lab":
            continue
        vid = data["id"]
        key = "clearance" if "clearance" in vid else vid
        if key in sets:
            sets[key].update(c["code"] for c in data.get("codes", []) if c.get("system", LOINC) == LOINC)
        if key in ("alt", "ast"):
            uln[key] = _default_uln(data)
    return Labs(
        frozenset(sets["egfr"]),
        frozenset(sets["clearance"]),
        frozenset(sets["alt"]),
        frozenset(sets["ast"]),
        uln,
    )


@cache
def condition_classes() -> Mapping[tuple[str, str], frozenset[str]]:
    """(system, code) -> classes (als, spasticity-disorder, hepatic, ckd-severe); reviewed codes
    with no class map to an empty set."""
    data = yaml.safe_load((HERE / "condition_classes.yaml").read_text(encoding="utf-8"))
    table: dict[tuple[str, str], frozenset[str]] = {}
    for item in data["classified"]:
        table[(item["system"], str(item["code"]))] = frozenset(item["classes"])
    for system, codes in data["reviewed_none"].items():
        for code in codes:
            table[(system, str(code))] = frozenset()
    return table


class UnreviewedCondition(AssertionError):
    pass


# ------------------------------------------------------------------------------------ the record
def _codings(concept: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return list((concept or {}).get("coding") or [])


def _status_code(value: Any) -> str | None:
    """STU3/DSTU2 write a code string; R4 a CodeableConcept."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for c in value.get("coding") or []:
            if c.get("code"):
                return str(c["code"])
    return None


def _parse_dt(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.now().astimezone().tzinfo)


def _abatement_past(c: Mapping[str, Any], now: datetime) -> bool:
    for key in (
        "abatementDateTime",
        "abatementPeriod",
        "abatementString",
        "abatementAge",
        "abatementRange",
        "abatementBoolean",
    ):
        if key not in c:
            continue
        value = c[key]
        if key == "abatementBoolean":
            return bool(value)
        if key == "abatementDateTime":
            dt = _parse_dt(value)
            return dt is None or dt <= now
        if key == "abatementPeriod":
            dt = _parse_dt((value or {}).get("end") or (value or {}).get("start"))
            return dt is None or dt <= now
        return True  # an age, a range or a text: it has ended (no way to place it in the future)
    return False


def condition_is_active(c: Mapping[str, Any], now: datetime) -> bool:
    """ "Active condition": clinical status active / recurrence / relapse or absent, not refuted
    or entered-in-error; no clinical status with a past abatement has ended."""
    clinical = _status_code(c.get("clinicalStatus"))
    verification = _status_code(c.get("verificationStatus"))
    if verification in EXCLUDED_VERIFICATION:
        return False
    if clinical is None:
        return not _abatement_past(c, now)
    return clinical not in NOT_ACTIVE_CLINICAL


@dataclass(frozen=True)
class Med:
    ingredients: frozenset[str]
    route: str | None  # only what the oracle needs: "intravenous" for IV dantrolene, "intrathecal"
    daily_mg: float | None = None


def _concept_ingredients(concept: Mapping[str, Any] | None) -> tuple[frozenset[str], str | None]:
    d = drugs()
    for c in _codings(concept):
        if str(c.get("system") or "").rstrip("/") == RXNORM and c.get("code") in d.by_code:
            return d.by_code[c["code"]], d.code_route.get(c["code"])
    texts = [str(c.get("display") or "") for c in _codings(concept)] + [
        str((concept or {}).get("text") or "")
    ]
    found = {ing for pattern, ing in d.words for t in texts if pattern.search(t)}
    route = None
    if any(p.search(t) for p in d.iv_brands for t in texts) or any(
        re.search(r"\b(injection|injectable|intravenous)\b", t, re.IGNORECASE) for t in texts
    ):
        route = "intravenous"
    if any(re.search(r"\bintrathecal\b", t, re.IGNORECASE) for t in texts):
        route = "intrathecal"
    return frozenset(found), route


def recognise(resource: Mapping[str, Any], lookup: Mapping[str, Mapping[str, Any]]) -> Med | None:
    """ "Drug recognition": RxNorm code, a resolved medicationReference (its code, else its
    ingredient list), then names and brands in displays and text."""
    concept = resource.get("medicationCodeableConcept")
    medication = None
    ref = (resource.get("medicationReference") or {}).get("reference")
    if ref:
        if ref.startswith("#"):
            medication = next((m for m in resource.get("contained") or [] if m.get("id") == ref[1:]), None)
        else:
            medication = lookup.get(ref)
        if medication is not None:
            concept = medication.get("code")
    ingredients, route = _concept_ingredients(concept)
    if not ingredients and medication is not None:
        found: set[str] = set()
        for item in medication.get("ingredient") or []:
            sub = item.get("itemCodeableConcept")
            if sub is None and (item.get("itemReference") or {}).get("reference") in lookup:
                sub = lookup[item["itemReference"]["reference"]].get("code")
            found |= _concept_ingredients(sub)[0]
        ingredients = frozenset(found)
    if not ingredients:
        return None
    for dosage in resource.get("dosageInstruction") or []:
        text = " ".join(str(c.get("display") or c.get("code") or "") for c in _codings(dosage.get("route")))
        text += " " + str((dosage.get("route") or {}).get("text") or "")
        if re.search(r"\bintrathecal\b", text, re.IGNORECASE):
            route = "intrathecal"
        elif re.search(r"\bintravenous\b", text, re.IGNORECASE):
            route = "intravenous"
    return Med(ingredients, route)


def is_active_medication(resource: Mapping[str, Any]) -> bool:
    kind = resource.get("resourceType")
    status = resource.get("status")
    if kind == "MedicationStatement":
        return status in ACTIVE_STATEMENT
    if kind in ("MedicationRequest", "MedicationOrder"):
        return status in ACTIVE_ORDER and not resource.get("doNotPerform")
    return False


def _is_antispastic(med: Med) -> bool:
    """ "Antispastic = baclofen (any route), tizanidine, and oral dantrolene"."""
    return bool(med.ingredients & {"baclofen", "tizanidine"}) or (
        "dantrolene" in med.ingredients and med.route != "intravenous"
    )


# ------------------------------------------------------------------------------------ expectation
@dataclass
class Expectation:
    rules: set[str]
    facts: dict[str, Any] = field(default_factory=dict)


def _latest(observations: Iterable[Mapping[str, Any]], codes: frozenset[str], earliest: date, now: datetime):
    best: tuple[datetime, Mapping[str, Any]] | None = None
    for o in observations:
        if not any(
            str(c.get("system") or "").rstrip("/") == LOINC and c.get("code") in codes
            for c in _codings(o.get("code"))
        ):
            continue
        when = _parse_dt(
            o.get("effectiveDateTime") or (o.get("effectivePeriod") or {}).get("start") or o.get("issued")
        )
        value = (o.get("valueQuantity") or {}).get("value")
        if when is None or value is None or when.date() < earliest or when > now + timedelta(days=1):
            continue
        if best is None or when > best[0]:
            best = (when, o)
    return best


def _above_range(o: Mapping[str, Any], default_uln: tuple[float, frozenset[str] | None]) -> bool:
    value = float(o["valueQuantity"]["value"])
    flags = {
        str(c.get("code"))
        for i in (o.get("interpretation") or [])
        if isinstance(i, dict)
        for c in i.get("coding") or []
    }
    if isinstance(o.get("interpretation"), dict):  # STU3 / DSTU2: one CodeableConcept
        flags |= {str(c.get("code")) for c in o["interpretation"].get("coding") or []}
    highs = [
        r["high"]["value"]
        for r in o.get("referenceRange") or []
        if (r.get("high") or {}).get("value") is not None
    ]
    if flags & ABOVE_FLAGS:
        return True
    if highs:
        return value > min(highs)
    if flags:
        return False  # flagged, but not high: the laboratory said so
    limit, units = default_uln
    unit = o["valueQuantity"].get("code") or o["valueQuantity"].get("unit")
    if units is not None and unit not in units:
        return False  # a limit in U/L says nothing about a result in other units
    return value > limit


def active_classes(resources: Iterable[Mapping[str, Any]], now: datetime) -> set[str]:
    """Classes of the active conditions; an unreviewed code fails the run."""
    table = condition_classes()
    classes: set[str] = set()
    for c in resources:
        if c.get("resourceType") != "Condition":
            continue
        keys = [(str(x.get("system")), str(x.get("code"))) for x in _codings(c.get("code"))]
        unknown = [k for k in keys if k not in table]
        if unknown or not keys:
            raise UnreviewedCondition(
                f"condition not reviewed in condition_classes.yaml: {unknown or c.get('code')}"
            )
        if condition_is_active(c, now):
            for k in keys:
                classes |= table[k]
    return classes


@dataclass(frozen=True)
class LabFacts:
    renal: float | None  # latest eGFR, or a more recent creatinine clearance
    alt: Mapping[str, Any] | None
    ast: Mapping[str, Any] | None

    def liver_above_range(self) -> bool:
        uln = labs().default_uln
        return bool(
            (self.alt and _above_range(self.alt, uln["alt"]))
            or (self.ast and _above_range(self.ast, uln["ast"]))
        )


def lab_facts(resources: Iterable[Mapping[str, Any]], now: datetime) -> LabFacts:
    lab = labs()
    earliest = (now - timedelta(days=LOOKBACK_DAYS)).date()
    observations = [r for r in resources if r.get("resourceType") == "Observation"]
    egfr = _latest(observations, lab.egfr, earliest, now)
    clearance = _latest(observations, lab.clearance, earliest, now) if lab.clearance else None
    renal = egfr
    if clearance and (egfr is None or clearance[0] > egfr[0]):
        renal = clearance  # "a creatinine clearance stands in for eGFR when it is more recent"
    alt = _latest(observations, lab.alt, earliest, now)
    ast = _latest(observations, lab.ast, earliest, now)
    return LabFacts(
        float(renal[1]["valueQuantity"]["value"]) if renal else None,
        alt[1] if alt else None,
        ast[1] if ast else None,
    )


def expect(resources: list[Mapping[str, Any]], regimen: Regimen, now: datetime) -> Expectation:
    """Rule ids that must fire for `regimen` as the one new draft, given the patient's record."""
    lookup = {f"{r['resourceType']}/{r['id']}": r for r in resources if r.get("id")}
    classes = active_classes(resources, now)
    active = [m for r in resources if is_active_medication(r) and (m := recognise(r, lookup))]
    active_ingredients = set().union(*(m.ingredients for m in active)) if active else set()
    d = drugs()
    active_benzo = any(m.ingredients & d.benzodiazepines for m in active)
    active_antispastic = [m for m in active if _is_antispastic(m)]
    intrathecal_active = any("baclofen" in m.ingredients and m.route == "intrathecal" for m in active)
    lab = lab_facts(resources, now)
    facts = {
        "conditions": sorted(classes),
        "active": sorted(active_ingredients),
        "egfr": lab.renal,
        "alt": (lab.alt or {}).get("valueQuantity", {}).get("value"),
        "ast": (lab.ast or {}).get("valueQuantity", {}).get("value"),
    }

    ing = regimen.ingredient
    new_antispastic = ing in ANTISPASTICS  # every regression draft is oral
    new_benzo = ing in d.benzodiazepines
    reason = regimen.reason or ""
    documented = bool(classes & {"als", "spasticity-disorder"}) or bool(SPASTICITY_REASON.search(reason))
    context = documented or bool(active_antispastic) or new_antispastic
    hepatic = "hepatic" in classes
    oral_dantrolene_active = any("dantrolene" in m.ingredients and m.route != "intravenous" for m in active)
    distinct_antispastics = {i for m in active_antispastic for i in m.ingredients if i in ANTISPASTICS}

    checks = {
        "baclofen-dantrolene-combination": (ing == "baclofen" and oral_dantrolene_active)
        or (ing == "dantrolene" and "baclofen" in active_ingredients),
        "benzodiazepine-spasticity": new_benzo and context and not EXEMPT_REASON.search(reason),
        "cns-depressant-combination": (new_benzo and bool(active_antispastic))
        or (new_antispastic and active_benzo),
        "dantrolene-hepatic-disease": ing == "dantrolene" and hepatic,
        "dantrolene-liver-monitoring": ing == "dantrolene"
        and not hepatic
        and ((lab.alt is None and lab.ast is None) or lab.liver_above_range()),
        "baclofen-abrupt-withdrawal": False,  # no regression draft stops or cuts a drug
        "intrathecal-baclofen-consideration": new_antispastic
        and documented
        and not intrathecal_active
        and (
            len(distinct_antispastics) >= 2
            or (ing == "baclofen" and regimen.daily_mg >= INTRATHECAL_BACLOFEN_MG)
        ),
        "antispastic-max-daily-dose": ing in LABELLED_MAX_MG and regimen.daily_mg > LABELLED_MAX_MG[ing],
        "baclofen-renal-impairment": ing == "baclofen"
        and ((lab.renal is not None and lab.renal < EGFR_SEVERE) or "ckd-severe" in classes),
    }
    return Expectation({rule for rule, fires in checks.items() if fires}, facts)


# The indicator column of the rules table; only what this regression set's drafts can reach.
INDICATORS = {
    "baclofen-dantrolene-combination": "warning",
    "cns-depressant-combination": "warning",
    "dantrolene-hepatic-disease": "critical",
    "dantrolene-liver-monitoring": "warning",
    "intrathecal-baclofen-consideration": "info",
    "antispastic-max-daily-dose": "warning",
    "baclofen-renal-impairment": "warning",
}


def indicator(rule: str, facts: Mapping[str, Any]) -> str:
    """Expected card indicator: benzodiazepine-spasticity is a warning in ALS context, info otherwise;
    baclofen-abrupt-withdrawal (never reached here) depends on the route."""
    if rule == "benzodiazepine-spasticity":
        return "warning" if "als" in facts.get("conditions", ()) else "info"
    return INDICATORS[rule]
