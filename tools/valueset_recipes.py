"""The value-set recipes in `tools/valueset-recipes/`: read, validated against their schema, checked.

Why a module of its own: `tools/build_valuesets.py` and `tools/valuesets_second_set.py` both read
the recipes (word lists, route and unit tables, which research context feeds which value set, the
editorial notes written into provenance), so the loader sits below both of them. The recipes are
data, each entry naming where it comes from (`source`: an upstream id, a research file, or
"editorial" for a project editorial choice with no public source recorded); no clinical word list or
table is kept in Python.

A broken recipe stops the build with a `RecipeError` naming the file and the field, never a
KeyError deep inside the builder: the files are validated against
`schemas/tools/valueset-recipes.schema.json` (`#/$defs/<file stem>`), then cross-checked (a route
named anywhere is a declared route group, every strength unit has a mass factor).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

Json = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPES_DIR = REPO_ROOT / "tools" / "valueset-recipes"
SCHEMA_PATH = REPO_ROOT / "schemas" / "tools" / "valueset-recipes.schema.json"
RECIPE_NAMES = ("sources", "routes", "units", "medications", "conditions", "reasons", "labs")


class RecipeError(ValueError):
    """A recipe file is missing, unreadable or invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Recipes:
    """Every recipe file, parsed and validated (one attribute per file)."""

    directory: Path
    sources: Json
    routes: Json
    units: Json
    medications: Json
    conditions: Json
    reasons: Json
    labs: Json

    @property
    def systems(self) -> dict[str, str]:
        systems: dict[str, str] = self.sources["systems"]
        return systems

    @property
    def route_groups(self) -> list[str]:
        return [g["route"] for g in self.routes["groups"]]


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _pointer(parts: Any) -> str:
    return "/".join(str(p) for p in parts) or "(top level)"


@cache
def _schema() -> Json:
    schema: Json = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return schema


def _validator(name: str) -> Draft202012Validator:
    defs = _schema()["$defs"]
    return Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": defs})


def _read(path: Path, name: str) -> Json:
    where = _display(path)
    if not path.is_file():
        raise RecipeError(f"{where}: recipe file missing (every one of {', '.join(RECIPE_NAMES)} is needed)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecipeError(
            f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc
    errors = sorted(_validator(name).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        shown = "; ".join(f"field {_pointer(e.absolute_path)}: {e.message}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more error(s))" if len(errors) > 5 else ""
        raise RecipeError(f"{where}: {shown}{more}")
    if not isinstance(data, dict):  # the schema says object; this narrows the type
        raise RecipeError(f"{where}: a recipe is a JSON object")
    return data


def _cross_check(recipes: Recipes) -> None:
    """What a schema cannot say: names used in one place are declared in another."""
    groups = set(recipes.route_groups)
    where = {name: _display(recipes.directory / f"{name}.json") for name in RECIPE_NAMES}
    if len(groups) != len(recipes.route_groups):
        raise RecipeError(f"{where['routes']}: field groups: a route group is declared twice")
    meds, routes = recipes.medications, recipes.routes
    named: list[tuple[str, str, str]] = [  # (recipe file, field, route group it names)
        ("medications", "unit_routes", route)
        for item in meds["unit_routes"]
        for route in item["units"].values()
    ]
    named += [
        ("medications", field, item["route"])
        for field in ("extra_brands", "set_routes", "brand_note_routes")
        for item in meds[field]
    ]
    named.append(("routes", "default_route", routes["default_route"]["route"]))
    named += [("routes", "unspecific_routes", route) for route in routes["unspecific_routes"]["routes"]]
    for name, field, route in named:
        if route not in groups:
            raise RecipeError(f"{where[name]}: field {field}: route {route!r} is not a group of routes.json")
    for item in meds["brand_note_routes"]:
        try:
            re.compile(item["pattern"])
        except re.error as exc:
            raise RecipeError(
                f"{where['medications']}: field brand_note_routes: bad pattern {item['pattern']!r}: {exc}"
            ) from exc
    units = recipes.units
    missing = [u for u in units["name_strength_units"]["units"] if u.lower() not in units["mass_to_mg"]]
    if missing:
        raise RecipeError(f"{where['units']}: field name_strength_units: no mass_to_mg factor for {missing}")
    aliases = {a["to"] for a in recipes.sources["source_aliases"]}
    unknown = sorted(aliases - set(recipes.sources["upstream"]))
    if unknown:
        raise RecipeError(f"{where['sources']}: field source_aliases: {unknown} not in upstream")


def load_recipes(directory: Path = RECIPES_DIR) -> Recipes:
    """Read and validate every recipe file of `directory`; raise RecipeError on the first problem."""
    if not directory.is_dir():
        raise RecipeError(f"{_display(directory)}: recipe directory missing")
    unknown = sorted(p.name for p in directory.glob("*.json") if p.stem not in RECIPE_NAMES)
    if unknown:
        raise RecipeError(f"{_display(directory)}: unknown recipe file(s) {unknown}: no schema for them")
    parsed = {name: _read(directory / f"{name}.json", name) for name in RECIPE_NAMES}
    recipes = Recipes(directory=directory, **parsed)
    _cross_check(recipes)
    return recipes


@cache
def default_recipes() -> Recipes:
    """The repository's recipes, read once (for callers that take no directory)."""
    return load_recipes(RECIPES_DIR)
