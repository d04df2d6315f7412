"""Each predicate is declared once (service/predicates.py); the engine dispatch, the knowledge
checker's reference checks, the published rule schema and the catalogue phrase all derive from it."""

from __future__ import annotations

import json
from pathlib import Path

from spasticity_cds.knowledge import Knowledge, load_knowledge
from spasticity_cds.predicates import PREDICATES, phrase, references, walk
from tools.rule_schema import SCHEMA, generate

REPO = Path(__file__).resolve().parents[2]


def test_committed_rule_schema_is_generated_from_the_declarations() -> None:
    text = SCHEMA.read_text(encoding="utf-8")
    assert generate(json.loads(text)) == text, "run tools/rule_schema.py"
    published = json.loads(text)["$defs"]["predicate"]["properties"]
    assert list(published) == list(PREDICATES)


def test_every_predicate_the_rules_use_is_declared_and_dispatched(knowledge: Knowledge) -> None:
    from spasticity_cds.knowledge import _rule_predicates

    used = {name for rule in knowledge.rules for p in _rule_predicates(rule) for name, _ in walk(p)}
    assert used <= set(PREDICATES)


def test_references_reach_into_nested_predicates() -> None:
    nested = {"any": [{"not": {"context": "als"}}, {"no_recent_result": {"labs": ["alt", "ast"]}}]}
    assert list(references(nested)) == [
        ("context", ("context", "als")),
        ("no_recent_result", ("lab", "alt")),
        ("no_recent_result", ("lab", "ast")),
    ]


def test_catalogue_phrases_keep_their_reading() -> None:
    assert phrase({"context": "als"}) == "context als"
    assert phrase({"order_route": ["oral", "nasal"]}) == "order_route oral/nasal"
    assert phrase({"no_recent_result": {"labs": ["alt"]}}) == "no_recent_result"


def test_the_shipped_knowledge_loads_against_the_generated_schema() -> None:
    assert load_knowledge(REPO / "cards", REPO / "schemas").rules
