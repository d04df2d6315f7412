"""The value-set recipes in tools/valueset-recipes/: valid, loaded strictly, and the only home of the
word lists and tables tools/build_valuesets.py uses.

Why: the recipes say which words mean spasticity, which dose forms are oral, which units are mass;
a mistyped field must stop the build with the file and field named (never silently drop a word
list), and nobody should re-add a clinical table as a Python literal beside them. That the value
sets built from the recipes are byte-identical to cards/valuesets/ is proven by
test_valuesets.py::test_rebuilding_reproduces_the_committed_files_byte_for_byte and below.
"""

from __future__ import annotations

import ast
import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
RECIPES = TOOLS / "valueset-recipes"
SCHEMA = REPO / "schemas" / "tools" / "valueset-recipes.schema.json"
BUILD_SCRIPT = TOOLS / "build_valuesets.py"
# the builder modules that must hold logic only
CODE_FILES = [TOOLS / "build_valuesets.py", TOOLS / "valuesets_second_set.py", TOOLS / "valueset_recipes.py"]
# the tables that were Python literals before the recipes existed (issue 13)
OLD_TABLES = {
    "UPSTREAM",
    "SOURCE_ALIASES",
    "SANDBOX_SOURCE",
    "ROUTE_GROUPS",
    "ROUTE_CODES",
    "ROUTE_WORDS",
    "FORMS",
    "_UNIT_TO_MG",
    "_STRENGTH",
    "MEDICATION_SETS",
    "BENZODIAZEPINE_GROUP",
    "UNIT_ROUTES",
    "EXTRA_BRANDS",
    "SET_ROUTES",
    "EXTRA_BRAND_NOTE",
    "GENERAL_EXCLUDES",
    "CONDITION_SETS",
    "CONDITION_NOTE",
    "SPASM_WORDS",
    "SPASM_EXCLUDES",
    "OTHER_INDICATION_WORDS",
    "OTHER_INDICATION_PREFIXES",
    "OTHER_INDICATION_ICD9_PREFIXES",
    "OTHER_INDICATION_NOTE",
    "LAB_SETS",
    "RXNORM",
    "SNOMED",
    "ICD10CM",
    "ICD9CM",
    "LOINC",
    "V3_ROUTE",
    "V2_ROUTE",
}
# All-string collections that are structure (field names), not terminology: name -> why.
STRUCTURAL_LISTS = {
    "CODE_KEYS": "the fields of a value-set code entry the second set copies (valueset.schema.json)",
    "RECIPE_NAMES": "the recipe file names, one per $defs entry of the schema",
}
LITERAL_LIMIT = 4  # an all-string list / tuple / set of this many elements is a table


@cache
def recipes_module() -> ModuleType:
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    return importlib.import_module("valueset_recipes")


def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return data


def recipe_files() -> list[Path]:
    return sorted(RECIPES.glob("*.json"))


def broken_copy(tmp_path: Path, name: str, mutate: Callable[[Any], Any]) -> Path:
    """A copy of the recipes with `mutate` applied to `<name>.json` (returns the directory)."""
    target = tmp_path / "recipes"
    shutil.copytree(RECIPES, target)
    path = target / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data = mutate(data) or data
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


# --- the recipes are valid -----------------------------------------------------------------------
def test_schema_is_valid_and_has_one_definition_per_recipe_file() -> None:
    Draft202012Validator.check_schema(schema())
    stems = {p.stem for p in recipe_files()}
    assert stems == set(recipes_module().RECIPE_NAMES)
    assert stems <= set(schema()["$defs"])


@pytest.mark.parametrize("path", recipe_files(), ids=lambda p: p.name)
def test_recipe_file_validates_against_its_schema(path: Path) -> None:
    validator = Draft202012Validator({"$ref": f"#/$defs/{path.stem}", "$defs": schema()["$defs"]})
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(json.loads(path.read_text()))
    ]
    assert errors == []


def test_the_repository_recipes_load() -> None:
    recipes = recipes_module().load_recipes(RECIPES)
    assert "oral" in recipes.route_groups
    assert recipes.routes["default_route"]["route"] == "oral"


def sourced_entries(data: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object that carries a word list or a mapping table, with its path."""
    if isinstance(data, dict):
        if any(k in data for k in ("words", "forms", "units", "routes", "exclude_words")):
            yield where, data
        for key, value in data.items():
            yield from sourced_entries(value, f"{where}/{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from sourced_entries(value, f"{where}/{i}")


@pytest.mark.parametrize("path", recipe_files(), ids=lambda p: p.name)
def test_every_word_list_and_table_names_its_source(path: Path) -> None:
    """A word list or table says where it comes from: an upstream id, a research file, or
    'editorial' (a project choice with no public source); route groups carry it once per file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for where, entry in sourced_entries(data):
        if path.stem == "routes" and where.startswith("/groups/"):
            assert data["words_source"]["source"] and data["forms_source"]["source"]
            assert all(c["evidence"] for c in entry["codes"]), where
            continue
        assert entry.get("source"), f"{path.name}{where}: no source"


def test_route_codes_each_cite_where_they_were_seen_or_say_they_were_not() -> None:
    routes = recipes_module().load_recipes(RECIPES).routes
    for group in routes["groups"]:
        for code in group["codes"]:
            evidence = code["evidence"]
            assert evidence.startswith("seen on https://") or "not re-seen" in evidence, code


# --- a broken recipe stops the build with the file and field named -------------------------------
def drop_words_of_first_condition(data: Any) -> None:
    del data["valuesets"][0]["words"]


def unknown_route_in_extra_brand(data: Any) -> None:
    data["extra_brands"][0]["route"] = "transdermal-typo"


def strength_unit_without_factor(data: Any) -> None:
    data["name_strength_units"]["units"].append("kg")


def misspelt_field(data: Any) -> None:
    data["valuesets"][0]["exclude_wrods"] = data["valuesets"][0].pop("exclude_words")


def empty_word(data: Any) -> None:
    data["groups"][0]["words"].append(" ")


@pytest.mark.parametrize(
    ("name", "mutate", "field", "says"),
    [
        ("conditions", drop_words_of_first_condition, "valuesets/0", "'words' is a required property"),
        ("medications", unknown_route_in_extra_brand, "extra_brands", "transdermal-typo"),
        ("units", strength_unit_without_factor, "name_strength_units", "kg"),
        ("reasons", misspelt_field, "valuesets/0", "exclude_wrods"),
        ("routes", empty_word, "groups/0/words", "does not match"),
    ],
)
def test_a_broken_recipe_raises_naming_file_and_field(
    tmp_path: Path, name: str, mutate: Callable[[Any], None], field: str, says: str
) -> None:
    directory = broken_copy(tmp_path, name, mutate)
    module = recipes_module()
    with pytest.raises(module.RecipeError) as caught:
        module.load_recipes(directory)
    message = str(caught.value)
    assert f"{name}.json" in message and f"field {field}" in message and says in message, message


def test_a_missing_or_unreadable_or_unknown_recipe_file_is_named(tmp_path: Path) -> None:
    module = recipes_module()
    target = tmp_path / "recipes"
    shutil.copytree(RECIPES, target)
    (target / "labs.json").unlink()
    with pytest.raises(module.RecipeError, match=r"labs\.json: recipe file missing"):
        module.load_recipes(target)
    (target / "labs.json").write_text('{"meta": ', encoding="utf-8")
    with pytest.raises(module.RecipeError, match=r"labs\.json: not valid JSON \(line 1"):
        module.load_recipes(target)
    shutil.copy(RECIPES / "labs.json", target / "labs.json")
    (target / "lab.json").write_text("{}", encoding="utf-8")
    with pytest.raises(module.RecipeError, match=r"unknown recipe file\(s\) \['lab\.json'\]"):
        module.load_recipes(target)


def test_the_builder_exits_with_the_recipe_error_not_a_traceback(tmp_path: Path) -> None:
    directory = broken_copy(tmp_path, "conditions", drop_words_of_first_condition)
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--recipes", str(directory), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 2
    assert "conditions.json" in result.stderr and "field valuesets/0" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_recipe_edit_changes_the_built_value_set(tmp_path: Path) -> None:
    """The builder really reads the recipes: a word added to a copy shows up in the output."""

    def add_word(data: Any) -> None:
        data["valuesets"][0]["words"].append("spastic paresis")

    directory = broken_copy(tmp_path, "reasons", add_word)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--recipes", str(directory), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    built = json.loads((out / "spasticity-reasons.json").read_text(encoding="utf-8"))
    assert "spastic paresis" in built["words"]
    committed = REPO / "cards" / "valuesets" / "spasticity-reasons.json"
    assert "spastic paresis" not in json.loads(committed.read_text(encoding="utf-8"))["words"]
    differ = sorted(
        p.name for p in out.glob("*.json") if p.read_bytes() != (committed.parent / p.name).read_bytes()
    )
    assert differ == ["spasticity-reasons.json"]


# --- no clinical table is a Python literal any more ----------------------------------------------
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def docstring_nodes(tree: ast.Module) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and ast.get_docstring(node):
            first = node.body[0]
            assert isinstance(first, ast.Expr)
            out.add(id(first.value))
    return out


@pytest.mark.parametrize("path", CODE_FILES, ids=lambda p: p.name)
def test_the_old_tables_are_not_defined_in_code(path: Path) -> None:
    assigned = {
        target.id
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    assert not assigned & OLD_TABLES, f"{path.name} defines {sorted(assigned & OLD_TABLES)}: use the recipes"


@pytest.mark.parametrize("path", CODE_FILES, ids=lambda p: p.name)
def test_no_word_list_or_table_literal_in_code(path: Path) -> None:
    """Any all-string list / tuple / set of LITERAL_LIMIT or more elements, or a dict of constants
    with three or more entries, is a table: it belongs in tools/valueset-recipes/."""
    tree = parsed(path)
    allowed = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id in STRUCTURAL_LISTS for t in node.targets)
    }
    tables = []
    for node in ast.walk(tree):
        if id(node) in allowed:
            continue
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            strings = [e for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(node.elts) >= LITERAL_LIMIT and len(strings) == len(node.elts):
                tables.append(node.lineno)
        if isinstance(node, ast.Dict):
            constant = [v for v in node.values if isinstance(v, ast.Constant)]
            if len(constant) >= 3:
                tables.append(node.lineno)
    assert tables == [], (
        f"{path.name}: table literals at lines {tables}; move them to tools/valueset-recipes/"
    )


def recipe_vocabulary() -> set[str]:
    """Every word, form, unit, ingredient, prefix and route of the recipes (lowercase)."""
    words: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            if key != "code_lists" and all(isinstance(v, str) for v in value):
                words.update(v.lower() for v in value)
            for v in value:
                walk(v)
        elif isinstance(value, str) and key in {"route", "flag_group", "ingredient"}:
            words.add(value.lower())

    for path in recipe_files():
        walk(json.loads(path.read_text(encoding="utf-8")))
    return words


@pytest.mark.parametrize("path", CODE_FILES, ids=lambda p: p.name)
def test_no_recipe_word_is_written_in_code(path: Path) -> None:
    """No string in the code (docstrings aside) is a recipe word: a route, dose form, condition
    word, exclusion, unit or ingredient named in Python would bypass the recipes."""
    vocabulary = recipe_vocabulary()
    assert {"oral", "spasticity", "tablet", "baclofen", "mcg", "g40"} <= vocabulary
    tree = parsed(path)
    docs = docstring_nodes(tree)
    found = sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and node.value.lower() in vocabulary
    )
    assert found == [], f"{path.name}: recipe words written in code: {found}"
