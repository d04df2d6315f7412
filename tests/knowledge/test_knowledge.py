"""The knowledge base is tested like code: every file valid, ids unique, every value set used,
references resolved, bad files refused with a message naming file and field, docs/RULES.md fresh."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from spasticity_cds.catalogue import render_markdown
from spasticity_cds.knowledge import KnowledgeError, load_knowledge

REPO = Path(__file__).resolve().parents[2]
CARDS = REPO / "cards"
SCHEMAS = REPO / "schemas"


def test_knowledge_loads_nine_rules(knowledge: Any) -> None:
    ids = [rule["id"] for rule in knowledge.rules]
    assert len(ids) == len(set(ids)) == 21  # nine seeds + the second set of twelve (2026-12)
    assert {path.stem for path in (CARDS / "rules").glob("*.yaml")} == set(ids)


def test_every_rule_cites_evidence_with_absolute_links(knowledge: Any) -> None:
    for rule in knowledge.rules:
        assert rule["card"]["citations"], rule["id"]
        for source_id in rule["card"]["citations"]:
            assert knowledge.sources[source_id]["url"].startswith("https://"), source_id


def test_warning_and_critical_rules_offer_override_reasons(knowledge: Any) -> None:
    for rule in knowledge.rules:
        levels = {rule["indicator"]["default"], *(c["value"] for c in rule["indicator"].get("cases", []))}
        if levels & {"warning", "critical"}:
            assert rule["card"].get("override_reasons"), rule["id"]


def _referenced_valuesets(knowledge: Any) -> set[str]:
    text = "\n".join(path.read_text() for path in CARDS.glob("**/*.yaml"))
    used = {vs_id for vs_id in knowledge.valuesets if vs_id in text}
    # route and unit tables are read by kind, not by id: every medication needs them
    used |= {vs_id for vs_id, vs in knowledge.valuesets.items() if vs["kind"] in {"route", "units"}}
    return used


def test_every_value_set_is_used(knowledge: Any) -> None:
    unused = set(knowledge.valuesets) - _referenced_valuesets(knowledge)
    assert not unused, f"value sets no rule, class, context or order uses: {sorted(unused)}"


def test_every_value_set_has_provenance(knowledge: Any) -> None:
    for vs_id, vs in knowledge.valuesets.items():
        assert vs["provenance"], vs_id
        assert all(p.get("source") for p in vs["provenance"]), vs_id


def test_every_source_is_cited(knowledge: Any) -> None:
    cited = {s for rule in knowledge.rules for s in rule["card"]["citations"]}
    cited |= {r["source"] for r in knowledge.orders["replacements"].values()}
    assert set(knowledge.sources) == cited


def test_rules_catalogue_is_fresh(knowledge: Any) -> None:
    committed = (REPO / "docs" / "RULES.md").read_text()
    assert committed == render_markdown(knowledge), "docs/RULES.md is stale: run `make rules-doc`"


def test_discovery_templates_expand_value_sets(knowledge: Any) -> None:
    assert "{{valueset:" not in "".join(knowledge.templates.values())
    assert "http://loinc.org|1742-6" in knowledge.templates["liverLabs"]


# --------------------------------------------------------------------------- bad files stop start-up
@pytest.fixture
def cards_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cards"
    shutil.copytree(CARDS, target)
    return target


def _load(cards: Path) -> None:
    load_knowledge(cards, SCHEMAS)


def _edit_yaml(path: Path, change: Any) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_bad_indicator_is_refused_naming_file_and_field(cards_copy: Path) -> None:
    path = cards_copy / "rules" / "baclofen-renal-impairment.yaml"
    _edit_yaml(path, lambda d: d["indicator"].update(default="loud"))
    with pytest.raises(KnowledgeError, match=r"baclofen-renal-impairment\.yaml: field indicator/default"):
        _load(cards_copy)


def test_rule_id_must_equal_file_name(cards_copy: Path) -> None:
    path = cards_copy / "rules" / "baclofen-renal-impairment.yaml"
    _edit_yaml(path, lambda d: d.update(id="renal"))
    with pytest.raises(KnowledgeError, match="field id"):
        _load(cards_copy)


def test_unknown_citation_is_refused(cards_copy: Path) -> None:
    path = cards_copy / "rules" / "cns-depressant-combination.yaml"
    _edit_yaml(path, lambda d: d["card"]["citations"].append("no-such-source"))
    with pytest.raises(KnowledgeError, match=r"cns-depressant-combination\.yaml: field card/citations"):
        _load(cards_copy)


def test_unknown_ingredient_in_a_selector_is_refused(cards_copy: Path) -> None:
    path = cards_copy / "rules" / "baclofen-dantrolene-combination.yaml"
    _edit_yaml(path, lambda d: d["triggers"][0]["new_order"].update(ingredients=["baclofenn"]))
    with pytest.raises(KnowledgeError, match="unknown ingredient 'baclofenn'"):
        _load(cards_copy)


def test_unknown_context_is_refused(cards_copy: Path) -> None:
    path = cards_copy / "rules" / "benzodiazepine-spasticity.yaml"
    _edit_yaml(path, lambda d: d["triggers"][0]["require"][0].update(context="spasticty"))
    with pytest.raises(KnowledgeError, match="unknown context 'spasticty'"):
        _load(cards_copy)


def test_broken_value_set_is_refused(cards_copy: Path) -> None:
    path = cards_copy / "valuesets" / "alt.json"
    path.write_text(path.read_text().replace('"kind": "lab"', '"kind": "labs"'))
    with pytest.raises(KnowledgeError, match=r"valuesets/alt\.json"):
        _load(cards_copy)


def test_unreadable_yaml_is_refused(cards_copy: Path) -> None:
    (cards_copy / "sources.yaml").write_text("sources: [unclosed\n")
    with pytest.raises(KnowledgeError, match=r"sources\.yaml: cannot be read"):
        _load(cards_copy)


def test_threshold_change_in_data_changes_behaviour(cards_copy: Path) -> None:
    """Thresholds live in the rule files, not in Python: editing one changes what the engine sees."""
    path = cards_copy / "rules" / "antispastic-max-daily-dose.yaml"
    _edit_yaml(
        path, lambda d: d["triggers"][0]["require"][0]["daily_dose_above"]["limits"][0].update(max_mg=60)
    )
    knowledge = load_knowledge(cards_copy, SCHEMAS)
    limits = knowledge.rules_by_id["antispastic-max-daily-dose"]["triggers"][0]["require"][0]
    assert limits["daily_dose_above"]["limits"][0]["max_mg"] == 60
