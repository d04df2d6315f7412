"""The knowledge base: everything in `cards/`, validated against `schemas/knowledge/` at start-up.

A bad file stops the service with a `KnowledgeError` naming the file and the field, so a broken
rule can never be half-loaded. The result is immutable and cached per directory: every app built
in one process shares it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from . import predicates
from .paths import data_path
from .predicates import Ref

if TYPE_CHECKING:  # imported when the knowledge is loaded (start-up order)
    from .terminology import Terminology

_VALUESET_TOKEN = re.compile(r"\{\{valueset:([a-z0-9,-]+)\}\}")
FHIR_VERSIONS = ("DSTU2", "STU3", "R4")


class KnowledgeError(Exception):
    """A file in cards/ is invalid; the message names the file and the field."""


@dataclass(frozen=True, eq=False)
class Knowledge:
    version: str
    rules: tuple[Mapping[str, Any], ...]
    valuesets: Mapping[str, Mapping[str, Any]]
    sources: Mapping[str, Mapping[str, Any]]
    classes: Mapping[str, Mapping[str, Any]]
    contexts: Mapping[str, Mapping[str, Any]]
    presentation: Mapping[str, Any]
    orders: Mapping[str, Any]
    systems: Mapping[str, tuple[str, ...]]
    services: Mapping[str, Mapping[str, Any]]  # service id -> discovery entry
    templates: Mapping[str, str]  # prefetch key -> query (value-set tokens expanded)
    data_keys: Mapping[str, Mapping[str, tuple[str, ...]]]  # need -> FHIR version -> keys
    terminology: Terminology
    condition_valuesets: tuple[str, ...] = ()  # every condition value set a context uses
    optional_needs: frozenset[str] = frozenset()  # needs whose data may be missing (no 412)

    @property
    def rules_by_id(self) -> Mapping[str, Mapping[str, Any]]:
        return {rule["id"]: rule for rule in self.rules}

    def discovery(self) -> dict[str, Any]:
        return {"services": [dict(s) for s in self.services.values()]}

    def optional_keys_for(self, needs: set[str], fhir_version: str) -> set[str]:
        """The prefetch keys of `needs` that only optional needs ask for."""
        required = self.keys_for({n for n in needs if n not in self.optional_needs}, fhir_version)
        return self.keys_for(needs & self.optional_needs, fhir_version) - required

    def keys_for(self, needs: set[str], fhir_version: str) -> set[str]:
        keys: set[str] = set()
        for need in needs:
            keys.update(self.data_keys[need][fhir_version])
        return keys


class _TextDatesLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML without the implicit timestamp type: a date such as `last_reviewed: 2026-12-06` stays
    the text it is in the file (JSON Schema knows no date objects; the rule schema checks its form)."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _read(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            if path.suffix == ".json":
                return json.load(handle)
            return yaml.load(handle, Loader=_TextDatesLoader)  # noqa: S506 - a safe loader
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise KnowledgeError(f"{path.name}: cannot be read: {exc}") from exc


def _validator(schemas: Path, name: str) -> Draft202012Validator:
    schema = _read(schemas / "knowledge" / name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _check(validator: Draft202012Validator, document: Any, label: str) -> None:
    error = best_match(validator.iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise KnowledgeError(f"{label}: field {where}: {error.message}")


def load_knowledge(cards_dir: str | Path | None = None, schemas_dir: str | Path | None = None) -> Knowledge:
    """Load, validate and index the knowledge base (cached per pair of directories)."""
    cards = Path(cards_dir) if cards_dir else data_path("cards")
    schemas = Path(schemas_dir) if schemas_dir else data_path("schemas")
    return _load(cards.resolve(), schemas.resolve())


@lru_cache(maxsize=8)
def _load(cards: Path, schemas: Path) -> Knowledge:
    from .terminology import Terminology

    def document(name: str, schema: str) -> Any:
        doc = _read(cards / name)
        _check(_validator(schemas, schema), doc, f"cards/{name}")
        return doc

    services_doc = document("services.yaml", "services.schema.json")
    sources = document("sources.yaml", "sources.schema.json")["sources"]
    classes_doc = document("classes.yaml", "classes.schema.json")
    presentation = document("presentation.yaml", "presentation.schema.json")
    orders = document("orders.yaml", "orders.schema.json")
    systems = {k: tuple(v) for k, v in document("systems.yaml", "systems.schema.json")["systems"].items()}

    valueset_validator = _validator(schemas, "valueset.schema.json")
    valuesets: dict[str, Any] = {}
    for path in sorted((cards / "valuesets").glob("*.json")):
        doc = _read(path)
        _check(valueset_validator, doc, f"cards/valuesets/{path.name}")
        if doc["id"] != path.stem:
            raise KnowledgeError(
                f"cards/valuesets/{path.name}: field id: {doc['id']!r} differs from the file name"
            )
        valuesets[doc["id"]] = doc

    rule_validator = _validator(schemas, "rule.schema.json")
    rules = []
    for path in sorted((cards / "rules").glob("*.yaml")):
        doc = _read(path)
        _check(rule_validator, doc, f"cards/rules/{path.name}")
        if doc["id"] != path.stem:
            raise KnowledgeError(
                f"cards/rules/{path.name}: field id: {doc['id']!r} differs from the file name"
            )
        rules.append(doc)
    if not rules:
        raise KnowledgeError(f"{cards}/rules: no rule files")

    terminology = Terminology.build(valuesets, classes_doc["classes"], systems)
    _cross_check(rules, valuesets, sources, classes_doc, orders, services_doc, terminology)

    templates = {
        key: _expand(spec["query"], valuesets, systems, key) for key, spec in services_doc["prefetch"].items()
    }
    services = {
        s["id"]: MappingProxyType({**s, "prefetch": dict(templates)}) for s in services_doc["services"]
    }
    unknown = sorted(set(services_doc.get("optional_data", [])) - set(services_doc["data"]))
    if unknown:
        raise KnowledgeError(f"cards/services.yaml: field optional_data: {unknown[0]!r} is not in data")
    data_keys = {
        need: {v: tuple(keys) for v, keys in by_version.items()}
        for need, by_version in services_doc["data"].items()
    }
    return Knowledge(
        version=services_doc["version"],
        rules=tuple(rules),
        valuesets=MappingProxyType(valuesets),
        sources=MappingProxyType(sources),
        classes=MappingProxyType(classes_doc["classes"]),
        contexts=MappingProxyType(classes_doc["contexts"]),
        presentation=MappingProxyType(presentation),
        orders=MappingProxyType(orders),
        systems=MappingProxyType(systems),
        services=MappingProxyType(services),
        templates=MappingProxyType(templates),
        data_keys=MappingProxyType(data_keys),
        terminology=terminology,
        optional_needs=frozenset(services_doc.get("optional_data", [])),
        condition_valuesets=tuple(
            dict.fromkeys(vs for ctx in classes_doc["contexts"].values() for vs in ctx["conditions"])
        ),
    )


def _expand(
    query: str, valuesets: Mapping[str, Any], systems: Mapping[str, tuple[str, ...]], key: str
) -> str:
    """Replace `{{valueset:a,b}}` with `system|code,...` of those (lab) value sets."""

    def codes(match: re.Match[str]) -> str:
        out: list[str] = []
        for vs_id in match.group(1).split(","):
            if vs_id not in valuesets:
                raise KnowledgeError(
                    f"cards/services.yaml: field prefetch/{key}: unknown value set {vs_id!r}"
                )
            out.extend(f"{c['system']}|{c['code']}" for c in valuesets[vs_id]["codes"])
        return ",".join(out)

    return _VALUESET_TOKEN.sub(codes, query)


def _rule_predicates(rule: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every top-level predicate of a rule: triggers, indicator cases, card conditions."""
    preds: list[Mapping[str, Any]] = []
    for trigger in rule["triggers"]:
        preds.extend(trigger.get("require", []) + trigger.get("unless", []))
    preds.extend(case["when"] for case in rule["indicator"].get("cases", []))
    card = rule["card"]
    for part in ("why", "consider"):
        preds.extend(para["when"] for para in card[part] if "when" in para)
    if isinstance(card["summary"], list):
        preds.extend(item["when"] for item in card["summary"] if "when" in item)
    preds.extend(s["when"] for s in card.get("suggestions", []) if "when" in s)
    preds.extend(card.get("citations_when", {}).values())
    return preds


def _kind_is(valuesets: Mapping[str, Any], vs_id: str, kind: str) -> bool:
    return bool(valuesets.get(vs_id, {}).get("kind") == kind)


def _check_contexts(contexts: Mapping[str, Any], valuesets: Mapping[str, Any]) -> None:
    for ctx_id, ctx in contexts.items():
        where = f"cards/classes.yaml: field contexts/{ctx_id}"
        for vs in ctx["conditions"]:
            if not _kind_is(valuesets, vs, "condition"):
                raise KnowledgeError(f"{where}/conditions: {vs!r} is not a condition value set")
        for vs in ctx.get("order_reasons", []):
            if not _kind_is(valuesets, vs, "reason"):
                raise KnowledgeError(f"{where}/order_reasons: {vs!r} is not a reason value set")


def _check_orders(
    orders: Mapping[str, Any], valuesets: Mapping[str, Any], sources: Mapping[str, Any]
) -> None:
    for lab_id, lab in orders["lab_orders"].items():
        if lab["valueset"] not in valuesets:
            raise KnowledgeError(
                f"cards/orders.yaml: field lab_orders/{lab_id}: unknown value set {lab['valueset']!r}"
            )
    for rep_id, rep in orders["replacements"].items():
        if rep["source"] not in sources:
            raise KnowledgeError(
                f"cards/orders.yaml: field replacements/{rep_id}/source: unknown {rep['source']!r}"
            )


def _reference_problem(
    ref: Ref, contexts: Mapping[str, Any], valuesets: Mapping[str, Any], sources: Mapping[str, Any]
) -> str | None:
    """What is wrong with one reference a predicate declares (service/predicates.py), or None.
    Drug selectors are checked against the terminology separately (`_selectors`)."""
    kind, target = ref
    if kind == "context" and target not in contexts:
        return f"unknown context {target!r}"
    if kind in {"reason", "lab"} and not _kind_is(valuesets, target, kind):
        return f"{target!r} is not a {kind} value set"
    if kind == "source" and target not in sources:
        return f"unknown source {target!r}"
    return None


def _selectors(rule: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every drug selector a rule uses (triggers, predicates, suggestions)."""
    found = [t["new_order"] for t in rule["triggers"]]
    for predicate in _rule_predicates(rule):
        found.extend(target for _, (kind, target) in predicates.references(predicate) if kind == "selector")
    found.extend(s["unless_present"] for s in rule["card"].get("suggestions", []) if "unless_present" in s)
    return found


_SUGGESTION_TARGETS = {
    "replace-draft": ("replacement", "replacements"),
    "order-lab": ("test", "lab_orders"),
    "order-referral": ("referral", "referrals"),
}


def _check_rule(
    rule: Mapping[str, Any],
    knowledge_parts: Mapping[str, Any],
    terminology: Terminology,
) -> None:
    label = f"cards/rules/{rule['id']}.yaml"
    valuesets, sources = knowledge_parts["valuesets"], knowledge_parts["sources"]
    orders, services_doc = knowledge_parts["orders"], knowledge_parts["services"]
    for need in rule["needs"]:
        if need not in services_doc["data"]:
            raise KnowledgeError(f"{label}: field needs: {need!r} is not mapped in cards/services.yaml data")
    for cite in rule["card"]["citations"]:
        if cite not in sources:
            raise KnowledgeError(f"{label}: field card/citations: unknown source {cite!r}")
    for cite in rule["card"].get("citations_when", {}):
        if cite not in rule["card"]["citations"]:
            raise KnowledgeError(f"{label}: field card/citations_when: {cite!r} is not in card/citations")
    for predicate in _rule_predicates(rule):
        for name, ref in predicates.references(predicate):
            problem = _reference_problem(ref, knowledge_parts["contexts"], valuesets, sources)
            if problem:
                raise KnowledgeError(f"{label}: field {name}: {problem}")
    for suggestion in rule["card"].get("suggestions", []):
        target = _SUGGESTION_TARGETS.get(suggestion["action"])
        if target and suggestion[target[0]] not in orders[target[1]]:
            raise KnowledgeError(
                f"{label}: field card/suggestions: unknown {target[0]} {suggestion[target[0]]!r}"
            )
    for selector in _selectors(rule):
        problem = terminology.selector_problem(selector)
        if problem:
            raise KnowledgeError(f"{label}: field selector {dict(selector)}: {problem}")


def _cross_check(
    rules: list[Mapping[str, Any]],
    valuesets: Mapping[str, Any],
    sources: Mapping[str, Any],
    classes_doc: Mapping[str, Any],
    orders: Mapping[str, Any],
    services_doc: Mapping[str, Any],
    terminology: Terminology,
) -> None:
    """References between files must resolve: a typo in a rule is a start-up error, not silence."""
    _check_contexts(classes_doc["contexts"], valuesets)
    _check_orders(orders, valuesets, sources)
    parts = {
        "valuesets": valuesets,
        "sources": sources,
        "orders": orders,
        "services": services_doc,
        "contexts": classes_doc["contexts"],
    }
    seen_ids: set[str] = set()
    for rule in rules:
        if rule["id"] in seen_ids:
            raise KnowledgeError(f"cards/rules/{rule['id']}.yaml: field id: duplicate rule id")
        seen_ids.add(rule["id"])
        _check_rule(rule, parts, terminology)
