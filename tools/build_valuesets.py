#!/usr/bin/env python3
"""Build the terminology value sets in `cards/valuesets/` from the research files and the recipes.

Why a script: the value sets are the only place the service learns codes, names, routes and
strengths, so they must be traceable to their sources and reproducible. Three kinds of input, all
in this repository, so a fresh clone rebuilds `cards/valuesets/` byte for byte:
- `tools/terminology/` (default `--source`): a verbatim copy of the research pass in
  `../shared/terminology/` (see its PROVENANCE.md and README.md): the codes and their sources;
- `tools/terminology-extra/` (`--extra`): codes, limits and tables confirmed later, each with its
  public source;
- `tools/valueset-recipes/` (`--recipes`): the word lists and tables (route words and codes,
  dose-form words, units, which research context or analyte feeds which value set, condition and
  reason words and exclusions, ICD-9-CM prefixes, upstream source pins) and the editorial notes
  written into provenance. Each entry names its `source` ("editorial" where no public source is
  recorded). They are validated against `schemas/tools/valueset-recipes.schema.json` when loaded
  (`tools/valueset_recipes.py`); a broken recipe stops the build with the file and field named.
  Edit a recipe, then re-run this script and commit both (tools/valueset-recipes/README.md).

This script holds only logic: it derives what the engine needs (route group and strength of every
product from its RxNorm name, brands, code prefixes) and writes one JSON file per value set in the
format of docs/KNOWLEDGE.md. Output is deterministic (sorted lists, fixed key order, indent=1,
trailing newline), so a re-run over the same inputs gives no diff; `--check` fails when the
committed files are stale.

Rules kept here on purpose:
- never invent a code: every code comes from a research file (`unconfirmed.json` is never read),
  except the route codes of the `routes` value set, which cite the HL7 value sets they belong to
  (each with its evidence in routes.json);
- words, exclusions, ICD prefixes and unit tables are editorial and say so in their provenance.

Usage: python tools/build_valuesets.py [--source DIR] [--extra DIR] [--recipes DIR] [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from valueset_recipes import (  # noqa: E402  (the recipe loader, tools/)
    RECIPES_DIR,
    RecipeError,
    Recipes,
    default_recipes,
    load_recipes,
)
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

Json = dict[str, Any]


class Vocabulary:
    """The word tables of the recipes compiled once: dose forms, strength units, mass factors.

    Why a class: the builder derives the route and strength of every product code from its name, so
    these patterns are compiled from `routes.json` and `units.json` once per build (and a test can
    build from another recipe directory without module-level state).
    """

    def __init__(self, recipes: Recipes) -> None:
        self.recipes = recipes
        self.default_route: str = recipes.routes["default_route"]["route"]
        self.unspecific_routes: set[str] = set(recipes.routes["unspecific_routes"]["routes"])
        # longest dose-form word first: "disintegrating oral tablet" before "oral tablet" before "tablet"
        self.form_patterns: list[tuple[str, str, re.Pattern[str]]] = sorted(
            (
                (word, group["route"], word_pattern(word))
                for group in recipes.routes["groups"]
                for word in group["forms"]
            ),
            key=lambda item: (-len(item[0]), item[0]),
        )
        mass = recipes.units["mass_to_mg"]
        units = sorted(recipes.units["name_strength_units"]["units"], key=lambda u: (-len(u), u))
        self.unit_to_mg = {u.lower(): Decimal(str(mass[u.lower()])) for u in units}
        alternatives = "|".join(re.escape(u) for u in units)
        self.strength = re.compile(
            rf"(?<![\w.])(\d+(?:\.\d+)?)\s*({alternatives})\b(?:\s*/\s*(\d+(?:\.\d+)?)?\s*ml\b)?",
            re.IGNORECASE,
        )

    def form_route(self, name: str) -> str | None:
        """Route group of the longest dose-form word in a product name, or None when none is named."""
        for _word, route, pattern in self.form_patterns:
            if pattern.search(name):
                return route
        return None

    def strength_of(self, name: str, ingredient: str) -> Json:
        """The ingredient's strength per unit (`strength_mg`) or per mL (`strength_mg_per_ml`).

        Only when the name states it: packs and dose-form groups ("Baclofen Pill") carry none, and
        in a combination product the strength is read from the segment naming this ingredient.
        """
        if is_pack(name):
            return {}
        core = _LEADING_QUALIFIERS.sub("", _BRACKET.sub("", name).strip())
        segments = core.split(" / ")
        pattern = word_pattern(ingredient)
        segment = next((s for s in segments if pattern.search(s)), None if len(segments) > 1 else core)
        if segment is None:
            return {}
        match = self.strength.search(segment)
        if not match:
            return {}
        amount = Decimal(match.group(1)) * self.unit_to_mg[match.group(2).lower()]
        if match.group(0).lower().rstrip().endswith("ml"):
            volume = Decimal(match.group(3)) if match.group(3) else Decimal(1)
            return {"strength_mg_per_ml": number(amount / volume)}
        return {"strength_mg": number(amount)}

    def tty_of(self, name: str, ingredient_named: bool) -> str:
        """RxNorm term type inferred from the name pattern (RxNorm naming conventions)."""
        branded = bool(brands_in(name))
        if is_pack(name):
            return "BPCK" if _BRACKET.search(name.rsplit("}", 1)[-1]) else "GPCK"
        if name.endswith(" Pill"):
            return "SCDG" if ingredient_named else "SBDG"
        if self.form_route(name):
            return "SBD" if branded else "SCD"
        return "SBDC" if branded else "SCDC"


@cache
def default_vocabulary() -> Vocabulary:
    return Vocabulary(default_recipes())


def form_route(name: str) -> str | None:
    """`Vocabulary.form_route` with the repository's recipes."""
    return default_vocabulary().form_route(name)


def strength_of(name: str, ingredient: str) -> Json:
    """`Vocabulary.strength_of` with the repository's recipes."""
    return default_vocabulary().strength_of(name, ingredient)


# ---------------------------------------------------------------------------------------------
# Product-name parsing (RxNorm names such as "0.5 ML Diazepam 5 MG/ML Rectal Gel [Diastat]").
# ---------------------------------------------------------------------------------------------
_BRACKET = re.compile(r"\[([^\]]+)\]")
_LEADING_QUALIFIERS = re.compile(r"^(?:\d+(?:\.\d+)?\s+(?:ML|HR)\s+)+", re.IGNORECASE)


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


# ---------------------------------------------------------------------------------------------
# Helpers for sources, sorting and provenance.
# ---------------------------------------------------------------------------------------------
def short_source(raw: Mapping[str, Any], aliases: Mapping[str, str]) -> Json:
    """A research-file source cut to {source, valueset?, url?, path?}, its name mapped by `aliases`."""
    source = aliases.get(raw["source"], raw["source"])
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
    """The research files, read once, with a content hash of each for provenance, and the recipes."""

    def __init__(
        self, source_dir: Path, extra_dir: Path = DEFAULT_EXTRA, recipes: Recipes | None = None
    ) -> None:
        self.dir = source_dir
        self.extra_dir = extra_dir
        self.recipes = recipes or default_recipes()
        self.vocab = default_vocabulary() if self.recipes is default_recipes() else Vocabulary(self.recipes)
        self.systems = self.recipes.systems
        self.aliases: dict[str, str] = {a["from"]: a["to"] for a in self.recipes.sources["source_aliases"]}
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

    def known_source(self, source_id: str) -> bool:
        return source_id in self.recipes.sources["upstream"] or source_id in self.extra_sources

    def upstream(self, source_id: str) -> Json:
        """Provenance entry of an upstream source (recipes sources.json, else a terminology-extra file)."""
        known = self.recipes.sources["upstream"].get(source_id) or self.extra_sources[source_id]
        return {"source": source_id, **known}

    def short_source(self, raw: Mapping[str, Any]) -> Json:
        return short_source(raw, self.aliases)


def provenance_for(inputs: Inputs, files: Iterable[str], entries: Iterable[Mapping[str, Any]]) -> list[Json]:
    """The research files read plus every upstream source cited by a code of this value set."""
    used = sorted({s["source"] for e in entries for s in e.get("sources", [])})
    unknown = [s for s in used if not inputs.known_source(s)]
    if unknown:
        raise ValueError(f"code sources without a provenance entry: {unknown}")
    return [inputs.research_file(f) for f in files] + [inputs.upstream(s) for s in used]


def header(vs_id: str, kind: str, title: str, version: str) -> Json:
    return {"id": vs_id, "kind": kind, "title": title, "version": version}


# ---------------------------------------------------------------------------------------------
# Medication value sets.
# ---------------------------------------------------------------------------------------------
class MedicationBuilder:
    """Collects the codes, brands and names of every ingredient from both medication files."""

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs
        self.recipe = inputs.recipes.medications
        self.vocab = inputs.vocab
        self.ingredients: dict[str, Json] = inputs.medications["ingredients"]
        self.set_routes = {item["code_set"]: item["route"] for item in self.recipe["set_routes"]}
        self.unit_routes = {item["ingredient"]: item["units"] for item in self.recipe["unit_routes"]}
        self.brand_note_routes = [
            (item["route"], re.compile(item["pattern"])) for item in self.recipe["brand_note_routes"]
        ]
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
        self._collect_cross_checks()

    def _collect_brands(self) -> None:
        """Brands of medications.json first (their spelling wins), then `[Brand]` suffixes."""
        for ing, entry in self.ingredients.items():
            for brand in entry.get("brand_names", []):
                if brand.get("status") == "unconfirmed":
                    continue
                evidence = self._route_words(brand.get("route")) | self._route_words(brand.get("forms"))
                self.add_brand(ing, brand["name"], evidence)
                if self.recipe["combination_brand_marker"] in (brand.get("note") or ""):
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

    def _route_words(self, text: str | None) -> set[str]:
        """Route groups named in a free-text brand note ("intrathecal (US)", "IV 20 mg vial")."""
        if not text:
            return set()
        return {route for route, pattern in self.brand_note_routes if pattern.search(text)}

    def _product_entry(self, ingredient: str, code: str) -> Json:
        return self.codes[ingredient].setdefault(code, {"code": code, "sources": []})

    def _collect_ingredient_products(self) -> None:
        for ing, entry in self.ingredients.items():
            rx_in = entry.get("rxnorm_ingredient")
            if rx_in:
                target = self._product_entry(ing, rx_in["code"])
                target.update({"tty": "IN", "display": rx_in["display"]})
                target["sources"] += [self.inputs.short_source(s) for s in rx_in.get("sources", [])]
            for product in entry["products"]:
                name = product.get("display") or product["product_description"]
                for owner in self.ingredients_of(name):
                    target = self._product_entry(owner, product["code"])
                    self._set_name(target, product.get("display"), product.get("product_description"))
                    if product.get("tty"):
                        target["tty"] = product["tty"]
                    if product.get("route"):
                        target["route_fixed"] = product["route"]
                    target["sources"] += [self.inputs.short_source(s) for s in product["sources"]]

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
        sandbox_source = self.inputs.recipes.sources["sandbox_code_source"]
        for code, name in self.inputs.sandbox["names"].items():
            for owner in self.ingredients_of(name):
                target = self._product_entry(owner, code)
                self._set_name(target, name, None)
                target["tty"] = self.vocab.tty_of(name, bool(self.ingredients_named(name)))
                target["sources"].append({k: v for k, v in sandbox_source.items() if k != "why"})

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
                    if set_name in self.set_routes:
                        target["route_fixed"] = self.set_routes[set_name]

    def _collect_cross_checks(self) -> None:
        """Membership lists in a code set's note that confirm codes already collected (recipe
        `cross_checks`, e.g. AHRQ 'Adjuvant pain medications' for baclofen): each listed code gains
        the list as a source; a listed code no other source has stops the build."""
        for check in self.recipe["cross_checks"]:
            ingredient = check["ingredient"]
            spec = self.ingredients[ingredient].get("product_code_sets", {}).get(check["code_set"])
            if not spec:
                continue
            listed = re.findall(r"\b\d{5,8}\b", spec["note"].split("contains", 1)[1].split("\u2014", 1)[0])
            source = {
                "source": check["source"],
                "valueset": check["valueset"],
                "path": spec["source"]["path"],
            }
            for code in listed:
                if code not in self.codes[ingredient]:
                    raise ValueError(
                        f"{check['source']} lists {code} as {ingredient} but no other source has it"
                    )
                self.codes[ingredient][code]["sources"].append(source)

    # -- derivation -----------------------------------------------------------------------------
    def finished_code(self, ingredient: str, raw: Json) -> Json:
        """Route and strength derived from the RxNorm name (else the NDC description), sorted keys."""
        name = raw.get("display") or raw.get("description") or ""
        route = self.vocab.form_route(name) if raw.get("tty") != "IN" else None
        fixed = raw.get("route_fixed")
        if fixed:
            if route is not None and route != fixed and route not in self.vocab.unspecific_routes:
                raise ValueError(f"{ingredient} {raw['code']}: name says {route}, source says {fixed}")
            route = fixed
        out: Json = {"code": raw["code"]}
        for key in ("tty", "display", "description"):
            if raw.get(key):
                out[key] = raw[key]
        if route:
            out["route"] = route
        if raw.get("tty") != "IN":
            out.update(self.vocab.strength_of(name, ingredient))
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

        Oral is the engine's default (routes.json `default_route`), and a brand is rarely oral-only
        for sure, so an oral brand carries no route: it names the ingredient only (Lioresal, Valium,
        Dantrium ...).
        """
        out = []
        for key, name in self.brand_names[ingredient].items():
            evidence = set(self.brand_evidence.get(key, set()))
            for code in codes:
                text = code.get("display", "")
                if code.get("route") and (name in brands_in(text) or text == f"{name} Pill"):
                    evidence.add(code["route"])
            brand: Json = {"name": name}
            if len(evidence) == 1 and evidence != {self.vocab.default_route}:
                brand["route"] = evidence.pop()
            if key in self.combination_brands:
                brand["combination"] = True
            out.append(brand)
        for extra in self.extra_brands(ingredient):
            out.append({"name": extra["name"], "route": extra["route"]})
        return sorted(out, key=lambda b: b["name"].lower())

    def extra_brands(self, ingredient: str) -> list[Json]:
        """Recipe brands no `[Brand]` suffix carries (e.g. 'Dantrium IV'), with their route."""
        return [b for b in self.recipe["extra_brands"] if b["ingredient"] == ingredient]

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
        if ingredient in self.unit_routes:
            entry["unit_routes"] = self.unit_routes[ingredient]
        entry["codes"] = codes
        return entry

    def valueset(self, vs_id: str, title: str, ingredients: list[str]) -> Json:
        entries = [self.ingredient_entry(ing) for ing in sorted(ingredients)]
        all_codes = [c for e in entries for c in e["codes"]]
        provenance = provenance_for(self.inputs, ["medications.json", "rxnorm-names-sandbox.json"], all_codes)
        provenance.append({"source": "editorial", "note": self.recipe["provenance_note"]})
        for extra in (x for e in entries for x in self.extra_brands(e["ingredient"])):
            note = {"source": extra["source"], "note": extra["note"]}
            if note not in provenance:
                provenance.append(note)
        return {
            **header(vs_id, "medication", title, self.inputs.version),
            "system": self.inputs.systems["rxnorm"],
            "provenance": provenance,
            "ingredients": entries,
        }


def medication_valuesets(inputs: Inputs) -> list[Json]:
    builder = MedicationBuilder(inputs)
    builder.collect()
    out = []
    for spec in inputs.recipes.medications["valuesets"]:
        if "flag_group" in spec:  # every ingredient medications.json puts in this group
            members = [
                ing for ing, e in builder.ingredients.items() if e.get("flag_group") == spec["flag_group"]
            ]
        else:
            members = spec["ingredients"]
        unknown = [m for m in members if m not in builder.ingredients]
        if unknown or not members:
            raise ValueError(f"{spec['id']}: no research medications.json ingredient {unknown or members}")
        out.append(builder.valueset(spec["id"], spec["title"], members))
    return out


# ---------------------------------------------------------------------------------------------
# Condition and reason value sets.
# ---------------------------------------------------------------------------------------------
def coded(entry: Mapping[str, Any], aliases: Mapping[str, str]) -> Json:
    """A condition/reason code with its sources (ICD records name one source; SNOMED ones a list)."""
    out: Json = {"system": entry["system"], "code": entry["code"], "display": entry["display"]}
    raw = entry.get("sources") or ([{"source": entry["source"]}] if entry.get("source") else [])
    if raw:
        out["sources"] = merge_sources(short_source(s, aliases) for s in raw)
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


def prefixes(systems: Mapping[str, str], icd10: Iterable[str], icd9: Iterable[str]) -> list[Json]:
    items = [{"system": systems["icd10cm"], "prefix": p} for p in icd10] + [
        {"system": systems["icd9cm"], "prefix": p} for p in icd9
    ]
    unique = {(i["system"], i["prefix"]): i for i in items}
    return [unique[k] for k in sorted(unique)]


def context_codes(inputs: Inputs, context: Mapping[str, Any], lists: Iterable[str]) -> list[Json]:
    return [coded(e, inputs.aliases) for name in lists for e in context.get(name, [])]


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


CONTEXT_CODE_LISTS = ("snomed", "icd10cm", "icd9cm")  # the code lists of a conditions.json context


def condition_valuesets(inputs: Inputs) -> list[Json]:
    """One value set per recipe of `conditions.json`: the context's codes and ICD-10-CM prefixes,
    changed by terminology-extra/conditions.json, with the recipe's words and exclusions."""
    recipe = inputs.recipes.conditions
    systems = inputs.systems
    contexts = inputs.conditions["contexts"]
    extras = inputs.extra_conditions["contexts"]
    out = []
    for spec in recipe["valuesets"]:
        vs_id = spec["id"]
        if spec["context"] not in contexts:
            raise ValueError(f"{vs_id}: context {spec['context']!r} is not in the research conditions.json")
        context = contexts[spec["context"]]
        extra = extras.get(vs_id, {})
        codes = merge_codes(context_codes(inputs, context, CONTEXT_CODE_LISTS))
        listed_icd9 = {c["code"] for c in codes if c["system"] == systems["icd9cm"]}
        for prefix in spec["icd9cm_prefixes"]:
            if not any(code.startswith(prefix) for code in listed_icd9):
                raise ValueError(f"{vs_id}: ICD-9-CM prefix {prefix} covers no listed code")
        listed_icd10 = [c["code"] for c in codes if c["system"] == systems["icd10cm"]]
        removed = extra.get("remove_prefixes", {})
        icd10 = narrowed_prefixes(
            listed_icd10, context["icd10cm_prefixes"], removed.get(systems["icd10cm"], [])
        )
        icd9 = narrowed_prefixes(
            sorted(listed_icd9), spec["icd9cm_prefixes"], removed.get(systems["icd9cm"], [])
        )
        codes = apply_condition_extra(vs_id, codes, extra)
        provenance = provenance_for(inputs, ["conditions.json"], codes)
        provenance.append({"source": "editorial", "note": recipe["provenance_note"]})
        if extra:
            provenance.append(inputs.extra_file("conditions.json", recipe["extra_file_note"]))
        removed_words = extra.get("remove_words", [])
        words = [w for w in spec["words"] if w not in removed_words] + extra.get("add_words", [])
        out.append(
            {
                **header(vs_id, "condition", spec["title"], inputs.version),
                "provenance": provenance,
                "codes": codes,
                "prefixes": prefixes(systems, icd10, icd9),
                "words": unique_words(words),
                "exclude_words": unique_words(
                    recipe["general_exclude_words"]["words"]
                    + spec["exclude_words"]
                    + extra.get("add_exclude_words", [])
                ),
            }
        )
    return out


def reason_valuesets(inputs: Inputs) -> list[Json]:
    """One value set per recipe of `reasons.json`: with a `context`, that context's listed codes
    (and, when asked, its ICD-10-CM prefixes) plus the recipe's; words are the recipe's."""
    out = []
    for spec in inputs.recipes.reasons["valuesets"]:
        codes: list[Json] = []
        provenance: list[Json] = []
        icd10 = list(spec["icd10cm_prefixes"])
        if "context" in spec:
            context = inputs.conditions["contexts"].get(spec["context"])
            if context is None:
                raise ValueError(
                    f"{spec['id']}: context {spec['context']!r} is not in the research conditions.json"
                )
            codes = merge_codes(context_codes(inputs, context, spec.get("code_lists", CONTEXT_CODE_LISTS)))
            provenance = provenance_for(inputs, ["conditions.json"], codes)
            if spec.get("context_icd10cm_prefixes"):
                icd10 = list(context["icd10cm_prefixes"]) + icd10
        out.append(
            {
                **header(spec["id"], "reason", spec["title"], inputs.version),
                "provenance": provenance + spec["provenance"],
                "codes": codes,
                "prefixes": prefixes(inputs.systems, icd10, spec["icd9cm_prefixes"]),
                "words": unique_words(spec["words"]),
                "exclude_words": unique_words(spec["exclude_words"]),
            }
        )
    return out


# ---------------------------------------------------------------------------------------------
# Lab, route and unit value sets.
# ---------------------------------------------------------------------------------------------
def display_sources(code: Mapping[str, Any], source_id: str) -> list[Json]:
    """A page that gave a lab code's display wording, when the research file names one."""
    urls = {
        u
        for u in (code.get("display_source"), code.get("source"))
        if isinstance(u, str) and u.startswith("http")
    }
    return [{"source": source_id, "url": u} for u in sorted(urls)]


def lab_code_sources(code: Mapping[str, Any], code_source: Json, recipe: Mapping[str, Any]) -> list[Json]:
    """Where a lab code was read: the value set's expansion, or (for a code confirmed outside it,
    whose `display_source` names documents rather than a page) the documents that confirmed it."""
    confirmed_elsewhere = code.get("display_source") and not str(code["display_source"]).startswith("http")
    if confirmed_elsewhere:
        return [{"source": recipe["confirmed_elsewhere_source"]["source"]}]
    return merge_sources([code_source], display_sources(code, recipe["display_source"]["source"]))


def lab_valuesets(inputs: Inputs) -> list[Json]:
    out = []
    extra = inputs.extra_labs
    clearance = extra["creatinine_clearance"]
    recipe = inputs.recipes.labs
    for spec in recipe["valuesets"]:
        vs_id, title = spec["id"], spec["title"]
        if spec["analyte"] not in inputs.labs["analytes"]:
            raise ValueError(f"{vs_id}: analyte {spec['analyte']!r} is not in the research labs.json")
        analyte = inputs.labs["analytes"][spec["analyte"]]
        vs_source = dict(analyte["valueset"])
        vs_source["source"] = spec.get("code_source") or vs_source["source"]
        code_source = inputs.short_source(vs_source)
        codes = [
            {
                "system": c["system"],
                "code": c["code"],
                "display": c["display"],
                "primary": bool(c.get("primary")),
                "sources": lab_code_sources(c, code_source, recipe),
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
                "sources": [inputs.upstream(s) for s in limit["sources"]],
                "note": limit["note"],
            }
            provenance.append(inputs.extra_file("labs.json", recipe["default_upper_limit_note"]))
        out.append(valueset)
    return out


def routes_valueset(inputs: Inputs) -> Json:
    """Route groups (codes and words) and dose-form words from `routes.json`, plus the second set's
    forms; a route known only from its product forms gets a group with no codes or words."""
    recipe = inputs.recipes.routes
    groups = {
        g["route"]: {
            "codes": sorted(
                ({k: c[k] for k in ("system", "code", "display")} for c in g["codes"]),
                key=lambda c: (c["system"], c["code"]),
            ),
            "words": unique_words(g["words"]),
        }
        for g in recipe["groups"]
    }
    forms = [{"route": g["route"], "words": unique_words(g["forms"])} for g in recipe["groups"] if g["forms"]]
    extra_forms, extra_provenance = second_set_forms()  # patch, ring, implant ... (research data)
    forms += extra_forms
    for form in extra_forms:  # a route known only from its product forms (no route code seen)
        groups.setdefault(form["route"], {"codes": [], "words": []})
    return {
        **header("routes", "route", "Route groups and dose forms", inputs.version),
        "provenance": list(recipe["provenance"]) + extra_provenance,
        "groups": groups,
        "forms": forms,
    }


def per_day(fraction: str) -> int | float:
    """'1/7' -> 0.142857 (six significant digits below one), '24' -> 24."""
    value = float(Fraction(fraction))
    return float(f"{value:.6g}") if value < 1 else int(value)


def units_valueset(inputs: Inputs) -> Json:
    """Dose and timing units from `units.json`, with the timing codes and packet units of
    terminology-extra/timing.json."""
    recipe = inputs.recipes.units
    timing = inputs.extra_timing
    return {
        **header("units", "units", "Dose and timing units", inputs.version),
        "provenance": [
            *recipe["provenance"],
            inputs.extra_file("timing.json", recipe["timing_file_note"]),
            *[
                {k: v for k, v in src.items() if k in {"source", "url", "note"}}
                for src in timing["meta"]["sources"]
            ],
        ],
        "mass_to_mg": recipe["mass_to_mg"],
        "volume_to_ml": recipe["volume_to_ml"],
        "count": sorted([*recipe["count"], *timing["packet_units"]["units"]]),
        "per_day": {unit: per_day(value) for unit, value in recipe["per_day"].items()},
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
def build_all(
    source_dir: Path, extra_dir: Path = DEFAULT_EXTRA, recipes_dir: Path | None = None
) -> dict[str, Json]:
    """Every value set, by id. `recipes_dir` None means the repository's recipes (read once)."""
    recipes = load_recipes(recipes_dir) if recipes_dir is not None else default_recipes()
    inputs = Inputs(source_dir, extra_dir, recipes)
    sets = (
        medication_valuesets(inputs)
        + condition_valuesets(inputs)
        + reason_valuesets(inputs)
        + lab_valuesets(inputs)
        + [routes_valueset(inputs), units_valueset(inputs)]
        + second_set_valuesets(recipes=recipes)
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
    parser.add_argument(
        "--recipes",
        type=Path,
        default=RECIPES_DIR,
        help="word lists and tables (default tools/valueset-recipes)",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the files are stale")
    args = parser.parse_args(argv)
    try:
        valuesets = build_all(args.source, args.extra, args.recipes)
    except RecipeError as exc:
        print(f"error: bad value-set recipe: {exc}", file=sys.stderr)
        return 2
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
