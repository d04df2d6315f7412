"""`latest_result_above` was added by declaring it once in service/predicates.py (and regenerating
the published schema with tools/rule_schema.py): the schema, the knowledge checker, the catalogue and
the engine pick it up with no other edit. This test is the proof."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from spasticity_cds.catalogue import render_text
from spasticity_cds.engine import Scope
from spasticity_cds.knowledge import KnowledgeError, load_knowledge
from spasticity_cds.predicates import Evidence
from spasticity_cds.records import Concept, ObservationEntry

REPO = Path(__file__).resolve().parents[2]
RULE = "baclofen-renal-impairment"


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    target = tmp_path / "cards"
    shutil.copytree(REPO / "cards", target)
    return target


def _with_case(cards: Path, argument: Any) -> Callable[[], Any]:
    """A copy of a rule that turns critical when `latest_result_above` holds."""
    path = cards / "rules" / f"{RULE}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["indicator"]["cases"] = [{"when": {"latest_result_above": argument}, "value": "critical"}]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return lambda: load_knowledge(cards, REPO / "schemas")


def test_schema_accepts_the_new_predicate_and_catalogue_reads_it(cards: Path) -> None:
    knowledge = _with_case(cards, {"lab": "egfr", "value": 90})()
    assert "critical when latest egfr above 90" in render_text(knowledge)


def test_schema_refuses_a_malformed_argument(cards: Path) -> None:
    with pytest.raises(KnowledgeError, match=rf"{RULE}\.yaml: field indicator/cases/0/when"):
        _with_case(cards, {"lab": "egfr"})()


def test_checker_refuses_a_value_set_that_is_not_a_lab(cards: Path) -> None:
    with pytest.raises(KnowledgeError, match="field latest_result_above: 'als' is not a lab value set"):
        _with_case(cards, {"lab": "als", "value": 1})()


@dataclass
class _Facts:
    labs: dict[str, ObservationEntry] = field(default_factory=dict)


def _scope(labs: dict[str, ObservationEntry]) -> Scope:
    """The engine's own Scope: evaluation goes through its dispatch by name."""
    knowledge = SimpleNamespace(terminology=None, contexts={})
    return Scope(_Facts(labs), None, knowledge)  # type: ignore[arg-type]


def _obs(value: float | None, comparator: str | None = None) -> ObservationEntry:
    return ObservationEntry("Observation/1", Concept(text="ALT"), value, "U/L", None, comparator=comparator)


@pytest.mark.parametrize(
    ("value", "comparator", "holds"),
    [
        (91, None, True),
        (90, None, False),
        (89, None, False),
        (90, ">", True),
        (90, ">=", False),
        (91, ">=", True),
        (95, "<", False),
        (None, None, False),
    ],
)
def test_engine_evaluates_it(value: float | None, comparator: str | None, holds: bool) -> None:
    obs = _obs(value, comparator)
    ok, evidence = _scope({"alt": obs}).test({"latest_result_above": {"lab": "alt", "value": 90}})
    assert ok is holds
    assert evidence == ([Evidence("lab", lab="alt", observation=obs)] if holds else [])


def test_no_result_never_holds() -> None:
    assert _scope({}).test({"latest_result_above": {"lab": "alt", "value": 1}}) == (False, [])


@pytest.mark.parametrize(
    ("value", "comparator", "holds"),
    [
        (29, None, True),
        (30, None, False),
        (31, None, False),
        (30, "<", True),  # "<30": surely below 30 (was read as not below: a silent severe-renal card)
        (31, "<", False),  # "<31" may be 30
        (30, "<=", False),  # "<=30" may be 30
        (29, "<=", True),
        (15, ">", False),  # a bound above is never surely below
        (None, None, False),
    ],
)
def test_below_is_the_mirror_of_above(value: float | None, comparator: str | None, holds: bool) -> None:
    obs = _obs(value, comparator)
    ok, evidence = _scope({"egfr": obs}).test({"latest_result_below": {"lab": "egfr", "value": 30}})
    assert ok is holds
    assert evidence == ([Evidence("lab", lab="egfr", observation=obs)] if holds else [])
