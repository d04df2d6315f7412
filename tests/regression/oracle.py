"""The expectation: which of the 21 rules (the first nine and "The second set of rules (2026-12)")
must fire, written from the specification (../shared/clinical-rules.md), not from the service's
output and without service code.

What it reads besides the spec: the codes, ingredient names and brands of cards/valuesets (the data
the spec points to) for drugs and labs, `medication_products.yaml` for the extract's products whose
name hides an ingredient (contraceptive packs), and `condition_classes.yaml` for conditions: every
condition code of the extract classified by hand from the spec's words (each positive with the
phrase of the spec it rests on), so a value set that is too wide or too narrow shows up here.
A condition code the table has not reviewed fails the run (re-extracting forces a review).

The regression drafts are single oral orders on order-sign (every draft is new, no co-drafts, no
stops), so `baclofen-abrupt-withdrawal` can never fire here; the oracle says so rather than guess.
`tizanidine-abrupt-withdrawal` needs an active tizanidine, which Synthea never prescribes: the oracle
refuses to judge (fails the run) if one appears rather than guess its daily dose.
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
    # The second set of rules (2026-12).
    "tizanidine-cyp1a2-inhibitor",
    "opioid-benzodiazepine",
    "antispastic-opioid-gabapentinoid",
    "benzodiazepine-duplication",
    "dantrolene-hepatotoxic-comedication",
    "tizanidine-hepatic",
    "tizanidine-alpha2-agonist",
    "tizanidine-abrupt-withdrawal",
    "als-respiratory-insufficiency",
    "older-adult-benzodiazepine",
    "baclofen-older-adult-renal",
    "baclofen-renal-dose-adjustment",
)
SECOND_SET = RULES[9:]
# Second set: the classes the spec defines, by the value set that lists their ingredients.
CLASS_VALUESETS = {
    "opioids": "opioid",
    "gabapentinoids": "gabapentinoid",
    "cyp1a2-inhibitors-strong": "cyp1a2-strong",  # fluvoxamine, ciprofloxacin: contraindicated
    "cyp1a2-inhibitors-other": "cyp1a2-other",  # "another CYP1A2 inhibitor the label tells to avoid"
    "alpha2-agonists": "alpha2-agonist",
    "riluzole": "riluzole",
    "estrogens": "estrogen",
}
OLDER_ADULT_AGE = 65  # older-adult-benzodiazepine, baclofen-older-adult-renal: "aged 65 or more"
DANTROLENE_ESTROGEN_AGE = 36  # dantrolene-hepatotoxic-comedication: "a woman aged 36 or more"
# "the latest eGFR from 30 to 59" (Beers: "eGFR < 60"): 30 <= eGFR < 60, a 59.4 included.
EGFR_MODERATE_LOW, EGFR_MODERATE_BELOW = 30.0, 60.0
FVC_PERCENT_LOW = 50.0  # als-respiratory-insufficiency: "below 50% of predicted"
SPEC_FVC_CODES = frozenset({"19872-1"})  # "LOINC 19872-1, FVC measured/predicted, in %"
# benzodiazepine-duplication: "rescue forms for seizure clusters (rectal, nasal, buccal) and
# injectable forms do not count on either side".
NOT_DUPLICATE_ROUTES = frozenset({"rectal", "nasal", "buccal", "injection", "intravenous", "intramuscular"})
# older-adult-benzodiazepine: "unless its reason is a seizure disorder, alcohol or benzodiazepine
# withdrawal, procedural sedation or anaesthesia, or end-of-life care".
OLDER_ADULT_EXEMPT_REASON = re.compile(
    r"\b(seizures?|epilep\w*|status epilepticus|convulsions?|(alcohol|benzodiazepine) withdrawal|"
    r"procedural sedation|conscious sedation|sedation for (a )?procedure|anaesthesia|anesthesia|"
    r"palliative|hospice|end[- ]of[- ]life)\b",
    re.IGNORECASE,
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
    classes: Mapping[str, frozenset[str]]  # ingredient -> second-set classes (opioid, estrogen, ...)
    products: Mapping[str, tuple[frozenset[str], frozenset[str]]]  # code -> (ingredients, classes)


@cache
def drugs() -> Drugs:
    by_code: dict[str, set[str]] = {}
    code_route: dict[str, str] = {}
    words: list[tuple[re.Pattern[str], str]] = []
    benzos: set[str] = set()
    iv_brands = []
    classes: dict[str, set[str]] = {}
    for vs in ("baclofen", "tizanidine", "dantrolene", "benzodiazepines", *CLASS_VALUESETS):
        data = json.loads((VALUESETS / f"{vs}.json").read_text(encoding="utf-8"))
        for ing in data["ingredients"]:
            name = ing["ingredient"]
            if vs == "benzodiazepines":
                benzos.add(name)
            if vs in CLASS_VALUESETS:
                classes.setdefault(name, set()).add(CLASS_VALUESETS[vs])
            for c in ing.get("codes", []):
                by_code.setdefault(c["code"], set()).add(name)
                if c.get("route"):
                    code_route[c["code"]] = c["route"]
            for word in [*ing.get("names", []), *(b["name"] for b in ing.get("brands", []))]:
                words.append((re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE), name))
            for b in ing.get("brands", []):
                if b.get("route") == "intravenous":
                    iv_brands.append(re.compile(rf"\b{re.escape(b['name'])}\b", re.IGNORECASE))
    products = {
        str(p["code"]): (frozenset(p["ingredients"]), frozenset(p["classes"]))
        for p in yaml.safe_load((HERE / "medication_products.yaml").read_text(encoding="utf-8"))["products"]
    }
    return Drugs(
        {k: frozenset(v) for k, v in by_code.items()},
        code_route,
        tuple(words),
        frozenset(benzos),
        tuple(iv_brands),
        {k: frozenset(v) for k, v in classes.items()},
        products,
    )


@dataclass(frozen=True)
class Labs:
    egfr: frozenset[str]
    clearance: frozenset[str]
    alt: frozenset[str]
    ast: frozenset[str]
    default_uln: Mapping[str, tuple[float, frozenset[str] | None]]
    fvc: frozenset[str] = SPEC_FVC_CODES


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
    sets: dict[str, set[str]] = {
        "egfr": set(SPEC_EGFR_CODES),
        "clearance": set(),
        "alt": set(),
        "ast": set(),
        "fvc": set(SPEC_FVC_CODES),
    }
    uln: dict[str, tuple[float, frozenset[str] | None]] = {}
    for path in sorted(VALUESETS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("kind") != "lab":
            continue
        vid = data["id"]
        key = "clearance" if "clearance" in vid else "fvc" if vid.startswith("fvc") else vid
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
        frozenset(sets["fvc"]),
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
    route: str | None  # "intravenous" (IV dantrolene, injectables), "intrathecal", "rectal", "nasal", ...
    daily_mg: float | None = None
    classes: frozenset[str] = frozenset()  # second-set classes: opioid, estrogen, oral-contraceptive, ...


def _rxnorm_codes(concept: Mapping[str, Any] | None) -> list[str]:
    return [
        str(c.get("code"))
        for c in _codings(concept)
        if str(c.get("system") or "").rstrip("/") == RXNORM and c.get("code")
    ]


def _concept_ingredients(concept: Mapping[str, Any] | None) -> tuple[frozenset[str], str | None]:
    d = drugs()
    for code in _rxnorm_codes(concept):
        if code in d.products:  # a reviewed product whose name hides its ingredients
            return d.products[code][0], None
    for code in _rxnorm_codes(concept):
        if code in d.by_code:
            return d.by_code[code], d.code_route.get(code)
    texts = [str(c.get("display") or "") for c in _codings(concept)] + [
        str((concept or {}).get("text") or "")
    ]
    found = {ing for pattern, ing in d.words for t in texts if pattern.search(t)}
    return frozenset(found), _route_from_texts(texts, d)


def _route_from_texts(texts: list[str], d: Drugs) -> str | None:
    """The route a product name says ("Injectable Solution", "Rectal Gel", "Nasal Spray")."""
    route = None
    if any(p.search(t) for p in d.iv_brands for t in texts) or any(
        re.search(r"\b(injection|injectable|intravenous|prefilled syringe)\b", t, re.IGNORECASE)
        for t in texts
    ):
        route = "intravenous"
    for word in ("rectal", "nasal", "buccal"):
        if any(re.search(rf"\b{word}\b", t, re.IGNORECASE) for t in texts):
            route = word
    if any(re.search(r"\bintrathecal\b", t, re.IGNORECASE) for t in texts):
        route = "intrathecal"
    return route


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
    route = _dosage_route(resource, route)
    d = drugs()
    classes = {c for i in ingredients for c in d.classes.get(i, ())}
    for code in _rxnorm_codes(concept):
        if code in d.products:
            classes |= d.products[code][1]
    return Med(ingredients, route, classes=frozenset(classes))


def _dosage_route(resource: Mapping[str, Any], route: str | None) -> str | None:
    """`dosageInstruction.route` overrides what the product name says."""
    for dosage in resource.get("dosageInstruction") or []:
        text = " ".join(str(c.get("display") or c.get("code") or "") for c in _codings(dosage.get("route")))
        text += " " + str((dosage.get("route") or {}).get("text") or "")
        if re.search(r"\bintrathecal\b", text, re.IGNORECASE):
            route = "intrathecal"
        elif re.search(r"\bintravenous\b", text, re.IGNORECASE):
            route = "intravenous"
        else:
            for word in ("rectal", "nasal", "buccal", "intramuscular"):
                if re.search(rf"\b{word}\b", text, re.IGNORECASE):
                    route = word
    return route


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
    fvc_percent: float | None = None  # latest FVC % predicted in the window

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
    fvc = _latest(observations, lab.fvc, earliest, now)
    return LabFacts(
        float(renal[1]["valueQuantity"]["value"]) if renal else None,
        alt[1] if alt else None,
        ast[1] if ast else None,
        float(fvc[1]["valueQuantity"]["value"]) if fvc else None,
    )


@dataclass(frozen=True)
class Person:
    age: int | None  # completed years at the order's date; None without a birth date
    female: bool


def person(resources: Iterable[Mapping[str, Any]], on: date) -> Person:
    """ "Age is taken at the order's date from Patient.birthDate; no birth date, no age rule"."""
    patient = next((r for r in resources if r.get("resourceType") == "Patient"), {})
    born = str(patient.get("birthDate") or "")
    age = None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", born):
        b = date.fromisoformat(born)
        age = on.year - b.year - ((on.month, on.day) < (b.month, b.day))
    return Person(age, patient.get("gender") == "female")


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
    who = person(resources, now.date())
    active_classes_ = set().union(*(m.classes for m in active)) if active else set()
    facts = {
        "conditions": sorted(classes),
        "active": sorted(active_ingredients),
        "active_classes": sorted(active_classes_),
        "egfr": lab.renal,
        "alt": (lab.alt or {}).get("valueQuantity", {}).get("value"),
        "ast": (lab.ast or {}).get("valueQuantity", {}).get("value"),
        "fvc": lab.fvc_percent,
        "age": who.age,
        "female": who.female,
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
    checks.update(_second_set(regimen, active, classes, lab, who, checks["baclofen-renal-impairment"], facts))
    return Expectation({rule for rule, fires in checks.items() if fires}, facts)


def _second_set(
    regimen: Regimen,
    active: list[Med],
    classes: set[str],
    lab: LabFacts,
    who: Person,
    renal_impairment: bool,
    facts: dict[str, Any],
) -> dict[str, bool]:
    """ "The second set of rules (2026-12)" for one new oral draft on order-sign (no co-drafts, no
    stopping drafts): the active medications are the only co-medications. Records the facts the
    indicators depend on (the CYP1A2 inhibitor's strength, the hepatic reason) in `facts`."""
    d = drugs()
    ing = regimen.ingredient
    new_tizanidine = ing == "tizanidine"
    new_antispastic = ing in ANTISPASTICS  # every regression draft is oral: dantrolene included
    new_benzo = ing in d.benzodiazepines
    reason = regimen.reason or ""

    def has(cls: str) -> bool:
        return any(cls in m.classes for m in active)

    # tizanidine-cyp1a2-inhibitor: fluvoxamine / ciprofloxacin (critical), another inhibitor the
    # label tells to avoid, oral contraceptives among them (warning). Any route of the inhibitor.
    strong = has("cyp1a2-strong")
    other = has("cyp1a2-other") or has("oral-contraceptive")
    facts["cyp1a2"] = "strong" if strong else "other" if other else None
    # tizanidine-hepatic: active hepatic disease or ALT / AST above range (warning); no ALT / AST in
    # the window (info); both: one warning.
    liver_warning = "hepatic" in classes or lab.liver_above_range()
    no_liver_tests = lab.alt is None and lab.ast is None
    facts["tizanidine_hepatic"] = "warning" if liver_warning else "info" if no_liver_tests else None
    # benzodiazepine-duplication: another benzodiazepine, not a rescue or injectable form; an active
    # order of the new order's own ingredient is what the new order renews or re-doses, not a duplicate.
    duplicate = [
        m
        for m in active
        if m.ingredients & d.benzodiazepines
        and m.route not in NOT_DUPLICATE_ROUTES
        and not (m.ingredients & d.benzodiazepines) <= {ing}
    ]
    # tizanidine-abrupt-withdrawal: needs an active tizanidine's daily dose; Synthea has none.
    if new_tizanidine and any("tizanidine" in m.ingredients for m in active):
        raise NotImplementedError("an active tizanidine: the oracle does not compute its daily dose")
    moderate_egfr = lab.renal is not None and EGFR_MODERATE_LOW <= lab.renal < EGFR_MODERATE_BELOW
    ckd3 = "ckd-stage-3" in classes
    older = who.age is not None and who.age >= OLDER_ADULT_AGE
    respiratory = "respiratory-insufficiency" in classes or (
        lab.fvc_percent is not None and lab.fvc_percent < FVC_PERCENT_LOW
    )
    return {
        "tizanidine-cyp1a2-inhibitor": new_tizanidine and (strong or other),
        "opioid-benzodiazepine": new_benzo and has("opioid"),
        "antispastic-opioid-gabapentinoid": new_antispastic and (has("opioid") or has("gabapentinoid")),
        "benzodiazepine-duplication": new_benzo and bool(duplicate),
        "dantrolene-hepatotoxic-comedication": ing == "dantrolene"
        and (
            has("riluzole")
            or (who.female and who.age is not None and who.age >= DANTROLENE_ESTROGEN_AGE and has("estrogen"))
        ),
        "tizanidine-hepatic": new_tizanidine and (liver_warning or no_liver_tests),
        "tizanidine-alpha2-agonist": new_tizanidine and has("alpha2-agonist"),
        "tizanidine-abrupt-withdrawal": False,  # no regression draft stops or cuts a drug
        "als-respiratory-insufficiency": new_benzo and "als" in classes and respiratory,
        "older-adult-benzodiazepine": new_benzo and older and not OLDER_ADULT_EXEMPT_REASON.search(reason),
        # Below 30 (or CKD 4-5 / ESRD) baclofen-renal-impairment speaks instead: one renal card.
        "baclofen-older-adult-renal": ing == "baclofen"
        and older
        and not renal_impairment
        and (moderate_egfr or (ckd3 and lab.renal is None)),
        "baclofen-renal-dose-adjustment": ing == "baclofen"
        and not older
        and not renal_impairment
        and (moderate_egfr or ckd3),
    }


# The indicator column of the rules tables; only what this regression set's drafts can reach.
INDICATORS = {
    "opioid-benzodiazepine": "warning",
    "antispastic-opioid-gabapentinoid": "warning",
    "benzodiazepine-duplication": "warning",
    "dantrolene-hepatotoxic-comedication": "warning",
    "tizanidine-alpha2-agonist": "warning",
    "als-respiratory-insufficiency": "warning",
    "older-adult-benzodiazepine": "warning",
    "baclofen-older-adult-renal": "warning",
    "baclofen-renal-dose-adjustment": "info",
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
    if rule == "tizanidine-cyp1a2-inhibitor":  # critical for fluvoxamine / ciprofloxacin
        return "critical" if facts.get("cyp1a2") == "strong" else "warning"
    if rule == "tizanidine-hepatic":  # warning for disease or results above range, info for none
        return str(facts.get("tizanidine_hepatic"))
    return INDICATORS[rule]
