"""Value sets of the second set of rules (2026-12), from `tools/terminology-extra/second-set.json`.

Why a separate module: the first set's value sets come from the research pass in
`../shared/terminology/`; the second set's codes were read later, from the public sources listed in
the research file's `sources` (commit-pinned FHIR value-set expansions, openFDA records, the CMS
ICD-10-CM tabular, LOINC examples). Keeping their builder here keeps `tools/build_valuesets.py`
unchanged but for one call, and keeps the output deterministic (`--check` stays byte-exact).

Never invent a code: every code below is copied from the research file, which names where it was
seen. An ingredient with no code seen is recognised by its words only, and its provenance says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from valueset_recipes import Recipes, default_recipes

Json = dict[str, Any]
RESEARCH_FILE = Path(__file__).resolve().parent / "terminology-extra" / "second-set.json"
CODE_KEYS = (
    "code",
    "tty",
    "display",
    "description",
    "route",
    "strength_mg",
    "strength_mg_per_ml",
    "combination",
)


def _load(path: Path) -> tuple[Json, str]:
    raw = path.read_bytes()
    return json.loads(raw), "sha256:" + hashlib.sha256(raw).hexdigest()


def _code_source(source_id: str, sources: Mapping[str, Json]) -> Json:
    spec = sources[source_id]
    out: Json = {"source": source_id}
    for key in ("valueset", "url", "path"):
        if spec.get(key):
            out[key] = spec[key]
    return out


def _provenance(doc: Json, digest: str, used: set[str], notes: list[str]) -> list[Json]:
    """The research file (pinned by its hash), then every source a code of this set came from."""
    out: list[Json] = [
        {
            "source": "spasticity-cds-research",
            "path": "tools/terminology-extra/second-set.json",
            "version": digest,
        }
    ]
    for source_id in sorted(used):
        spec = doc["sources"][source_id]
        entry: Json = {"source": source_id}
        if spec.get("url"):
            entry["url"] = spec["url"]
        version = spec.get("commit") or spec.get("vs_version") or spec.get("rxnorm_version")
        if version:
            entry["version"] = str(version)
        if spec.get("path"):
            entry["path"] = spec["path"]
        note = " ".join(str(spec[k]) for k in ("repo", "valueset", "note") if spec.get(k))
        if note:
            entry["note"] = note
        out.append(entry)
    for note in notes:
        out.append({"source": "editorial", "note": note})
    return out


def _medication(vs_id: str, spec: Json, doc: Json, digest: str, recipes: Recipes) -> Json:
    used: set[str] = set()
    notes: list[str] = []
    ingredients = []
    for item in spec["ingredients"]:
        codes = []
        for code in item["codes"]:
            entry = {k: code[k] for k in CODE_KEYS if code.get(k) is not None and k != "combination"}
            if " / " in (code.get("display") or ""):  # an RxNorm multi-ingredient name
                entry["combination"] = True
            entry["sources"] = [_code_source(s, doc["sources"]) for s in code["sources"]]
            used.update(code["sources"])
            codes.append(entry)
        for brand in item.get("brands", []):
            used.update(brand["sources"])
        if item.get("note"):
            notes.append(f"{item['ingredient']}: {item['note']}")
        ingredients.append(
            {
                "ingredient": item["ingredient"],
                "names": sorted({n.lower() for n in item["names"]}),
                "brands": [
                    {"name": b["name"]} for b in sorted(item.get("brands", []), key=lambda b: b["name"])
                ],
                "codes": sorted(codes, key=lambda c: (len(c["code"]), c["code"])),
            }
        )
    return {
        "id": vs_id,
        "kind": "medication",
        "title": spec["title"],
        "version": doc["meta"]["generated"],
        "system": recipes.systems["rxnorm"],
        "provenance": _provenance(doc, digest, used, notes),
        "ingredients": ingredients,
    }


def _condition(
    vs_id: str, spec: Json, doc: Json, digest: str, recipes: Recipes, kind: str = "condition"
) -> Json:
    used = {s for c in spec["codes"] + spec["prefixes"] for s in c["sources"]}
    notes = [spec["note"]] if spec.get("note") else []
    notes.append(recipes.conditions["second_set_note"])
    return {
        "id": vs_id,
        "kind": kind,
        "title": spec["title"],
        "version": doc["meta"]["generated"],
        "provenance": _provenance(doc, digest, used, notes),
        "codes": [
            {
                "system": c["system"],
                "code": c["code"],
                "display": c["display"],
                "sources": [_code_source(s, doc["sources"]) for s in c["sources"]],
            }
            for c in spec["codes"]
        ],
        "prefixes": [{"system": p["system"], "prefix": p["prefix"]} for p in spec["prefixes"]],
        "words": sorted({w.lower() for w in spec["words"]}),
        "exclude_words": sorted({w.lower() for w in spec["exclude_words"]}),
    }


def _lab(vs_id: str, spec: Json, doc: Json, digest: str) -> Json:
    used = {s for c in spec["codes"] for s in c["sources"]}
    return {
        "id": vs_id,
        "kind": "lab",
        "title": spec["title"],
        "version": doc["meta"]["generated"],
        "provenance": _provenance(doc, digest, used, []),
        "codes": [
            {
                "system": c["system"],
                "code": c["code"],
                "display": c["display"],
                "primary": c["primary"],
                "sources": [_code_source(s, doc["sources"]) for s in c["sources"]],
            }
            for c in spec["codes"]
        ],
    }


def second_set_valuesets(path: Path = RESEARCH_FILE, recipes: Recipes | None = None) -> list[Json]:
    """Every value set of the second set, in a fixed order (`recipes`: the repository's by default)."""
    recipes = recipes or default_recipes()
    doc, digest = _load(path)
    out = [_medication(k, v, doc, digest, recipes) for k, v in sorted(doc["medications"].items())]
    out += [_condition(k, v, doc, digest, recipes) for k, v in sorted(doc["conditions"].items())]
    out += [_condition(k, v, doc, digest, recipes, "reason") for k, v in sorted(doc["reasons"].items())]
    out += [_lab(k, v, doc, digest) for k, v in sorted(doc["labs"].items())]
    return out


def second_set_forms(path: Path = RESEARCH_FILE) -> tuple[list[Json], list[Json]]:
    """Dose-form words of the second set (ring, patch, implant ...) and the provenance they cite.

    Why: clinical-rules.md ("Route") lets the product's form in its name decide the route when an
    order has no route element; a contraceptive patch or ring must not read as an unspecified (so
    possibly oral) route. The words go into the `routes` value set's `forms`, grouped by route.
    """
    doc, _digest = _load(path)
    words: dict[str, set[str]] = {}
    used: set[str] = set()
    for form in doc.get("forms", []):
        words.setdefault(form["route"], set()).update(w.lower() for w in form["words"])
        used.update(form["sources"])
    forms = [{"route": route, "words": sorted(ws)} for route, ws in sorted(words.items())]
    provenance = []
    for source_id in sorted(used):
        spec = doc["sources"][source_id]
        entry: Json = {"source": source_id}
        if spec.get("url"):
            entry["url"] = spec["url"]
        if spec.get("commit"):
            entry["version"] = spec["commit"]
        entry["note"] = "dose-form words (second set): " + " ".join(
            str(spec[k]) for k in ("repo", "path", "note") if spec.get(k)
        )
        provenance.append(entry)
    return forms, provenance
