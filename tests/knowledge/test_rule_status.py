"""What a rule's `status` means, and the review metadata every rule carries.

- active: evaluated and its card shown;
- experimental: evaluated, logged (`rules_held`) and counted (`cds_cards_held_total`), card NOT shown;
- retired: not evaluated at all (and, alone, does not make the service fetch patient data).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from prometheus_client import REGISTRY

from spasticity_cds.catalogue import render_markdown, render_text
from spasticity_cds.config import Config
from spasticity_cds.knowledge import Knowledge
from spasticity_cds.pipeline import evaluate_hook
from spasticity_cds.prefetch import FhirFetcher
from spasticity_cds.runtime import Runtime
from tests.api.helpers import BACLOFEN, DIAZEPAM, als_condition, bundle, hook_request, order

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "cards" / "rules"
REVIEW_BLOCK = """review:
  author: spasticity-cds clinical team
  reviewer: pending pharmacy and therapeutics review
  last_reviewed: 2026-12-06
  next_review: 2027-06-06
"""


class NoFetcher:
    """Counts attempts to gather patient data (prefetch or FHIR server)."""

    def __init__(self) -> None:
        self.calls = 0

    def gather(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        return {}


def with_status(knowledge: Knowledge, statuses: Mapping[str, str]) -> Knowledge:
    rules = []
    for rule in knowledge.rules:
        rule = copy.deepcopy(dict(rule))
        rule["status"] = statuses.get(rule["id"], rule["status"])
        rules.append(rule)
    return dataclasses.replace(knowledge, rules=tuple(rules))


def answer(knowledge: Knowledge, request: dict[str, Any], fetcher: Any = None) -> list[str]:
    """The rule ids of the cards shown, through the real pipeline (prefetch read by FhirFetcher)."""
    config = Config(data_dir="unused")
    real = FhirFetcher(config)
    runtime = Runtime(
        config, knowledge, None, fetcher or real,
        lambda: "00000000-0000-4000-8000-000000000001", lambda: datetime(2026, 11, 21, 12, tzinfo=UTC),
    )  # fmt: skip
    try:
        response = evaluate_hook(request, service={"hook": "order-sign"}, runtime=runtime)
    finally:
        real.close()
    return [card["source"]["topic"]["code"] for card in response["cards"]]


def diazepam_for_als() -> dict[str, Any]:
    """Fires benzodiazepine-spasticity and cns-depressant-combination."""
    prefetch = {
        "conditions": bundle(als_condition(), searchset=True),
        "medicationRequests": bundle(order("R4", BACLOFEN, status="active", ident="rx-b"), searchset=True),
        "medicationStatements": None,
    }
    return hook_request("order-sign", [order("R4", DIAZEPAM)], prefetch=prefetch)


def held(rule: str) -> float:
    return REGISTRY.get_sample_value("cds_cards_held_total", {"rule": rule}) or 0.0


def test_active_rules_are_shown(knowledge: Knowledge) -> None:
    shown = answer(knowledge, diazepam_for_als())
    assert shown == ["benzodiazepine-spasticity", "cns-depressant-combination"]


def test_experimental_rule_is_evaluated_logged_and_counted_but_not_shown(
    knowledge: Knowledge, caplog: pytest.LogCaptureFixture
) -> None:
    trial = with_status(knowledge, {"benzodiazepine-spasticity": "experimental"})
    before = held("benzodiazepine-spasticity")
    with caplog.at_level(logging.INFO, logger="spasticity_cds.pipeline"):
        shown = answer(trial, diazepam_for_als())
    assert shown == ["cns-depressant-combination"]
    assert held("benzodiazepine-spasticity") == before + 1
    assert held("cns-depressant-combination") == 0
    [record] = [r for r in caplog.records if r.name == "spasticity_cds.pipeline"]
    assert record.fields == {"rules_held": ["benzodiazepine-spasticity"]}  # type: ignore[attr-defined]


def test_experimental_rule_that_does_not_fire_is_not_counted(knowledge: Knowledge) -> None:
    trial = with_status(knowledge, {"baclofen-renal-impairment": "experimental"})
    before = held("baclofen-renal-impairment")
    answer(trial, diazepam_for_als())
    assert held("baclofen-renal-impairment") == before


def test_retired_rule_is_not_evaluated(knowledge: Knowledge) -> None:
    retired = with_status(knowledge, {"benzodiazepine-spasticity": "retired"})
    before = held("benzodiazepine-spasticity")
    assert answer(retired, diazepam_for_als()) == ["cns-depressant-combination"]
    assert held("benzodiazepine-spasticity") == before


def test_only_retired_rules_about_an_order_means_no_data_fetched(knowledge: Knowledge) -> None:
    about_benzodiazepines = {
        rule["id"]: "retired" for rule in knowledge.rules
        if "benzodiazepine" in json.dumps(rule["triggers"])
        or "cns-depressant" in rule["id"]
    }  # fmt: skip
    retired = with_status(knowledge, about_benzodiazepines)
    request = diazepam_for_als()
    request.pop("prefetch")
    fetcher = NoFetcher()
    assert answer(retired, request, fetcher) == []
    assert fetcher.calls == 0


@pytest.mark.parametrize("path", sorted(RULES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_rule_carries_the_review_block_after_its_version(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert re.search(r"^version: \d+\n" + re.escape(REVIEW_BLOCK), text, re.M), path.name
    review = yaml.safe_load(text)["review"]
    assert review["next_review"] > review["last_reviewed"]
    assert isinstance(review["last_reviewed"], date)  # plain YAML dates; the service reads them as text


def test_the_schema_requires_review_metadata(knowledge: Knowledge) -> None:
    schema = json.loads((REPO / "schemas" / "knowledge" / "rule.schema.json").read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema)
    rule = json.loads(json.dumps(dict(knowledge.rules[0])))
    assert not list(validator.iter_errors(rule))
    for field in ("author", "reviewer", "last_reviewed", "next_review"):
        broken = copy.deepcopy(rule)
        del broken["review"][field]
        assert list(validator.iter_errors(broken)), field
    broken = copy.deepcopy(rule)
    broken["review"]["next_review"] = "next spring"
    assert list(validator.iter_errors(broken))
    del broken["review"]
    assert any("'review' is a required property" in e.message for e in validator.iter_errors(broken))
    broken = copy.deepcopy(rule)
    broken["status"] = "draft"
    assert list(validator.iter_errors(broken))


def test_catalogue_shows_status_and_review(knowledge: Knowledge) -> None:
    trial = with_status(knowledge, {"benzodiazepine-spasticity": "experimental"})
    text, markdown = render_text(trial), render_markdown(trial)
    assert "status: experimental (evaluated and logged, card held back (not shown))" in text
    assert "review: author spasticity-cds clinical team; reviewer pending pharmacy" in text
    assert "last reviewed 2026-12-06; next review 2027-06-06" in markdown
    assert "| experimental | 2027-06-06 |" in markdown
