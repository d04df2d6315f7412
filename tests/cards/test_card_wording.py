"""Text that fits the patient (docs/CARD-STYLE.md), in the rule files and in golden responses.

Rule files: a sentence that names ALS holds only in the ALS context; a sentence that tells the
clinician to start, add or switch to a drug holds only on the facts about that drug (taken or not).
Golden responses: the wording differs between an MS and an ALS patient, and between a patient who
takes baclofen and one who does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
BENZO = GOLDEN / "benzodiazepine-spasticity"
ALS = re.compile(r"\bALS\b|\bMND\b")
STARTS_DRUG = re.compile(r"^(?:Start|Add|Replace with)\s+(?:oral\s+)?([A-Za-z]+)")


def _positive(predicate: Any, name: str, value: Any = None) -> bool:
    """Does `predicate` require `name` (with `value`) outside any `not`?"""
    if not isinstance(predicate, dict):
        return False
    for key, arg in predicate.items():
        if key == name and (value is None or arg == value):
            return True
        if key == "all" and any(_positive(p, name, value) for p in arg):
            return True
        if key == "any" and all(_positive(p, name, value) for p in arg):
            return True
    return False


def _texts(rule: Any) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, text, item) for every sentence a card of the rule can show."""
    card = rule["card"]
    summary = card["summary"]
    for item in summary if isinstance(summary, list) else [{"text": summary}]:
        yield "summary", item["text"], item
    for part in ("why", "consider"):
        for item in card[part]:
            yield part, item["text"], item
    for item in card.get("suggestions", []):
        yield "suggestion", item["label"], item


def _card(path: Path, rule: str) -> dict[str, Any]:
    response = json.loads(path.read_text())
    return next(c for c in response["cards"] if c["source"]["topic"]["code"] == rule)


def _all_text(card: dict[str, Any]) -> str:
    parts = [card["summary"], card["detail"], *[s["label"] for s in card.get("suggestions", [])]]
    parts += [link["label"] for link in card.get("links", [])]
    return "\n".join(parts)


def test_every_sentence_naming_als_holds_only_in_the_als_context(knowledge: Any) -> None:
    for rule in knowledge.rules:
        requires_als = any(
            _positive(p, "context", "als") for t in rule["triggers"] for p in t.get("require", [])
        )
        for where, text, item in _texts(rule):
            if ALS.search(text) or "amyotrophic" in text.lower():
                assert requires_als or _positive(item.get("when"), "context", "als"), (
                    f"{rule['id']} {where}: {text!r} names ALS without `when: {{context: als}}`"
                )


def test_every_drug_to_start_or_add_is_conditional_on_that_drug(knowledge: Any) -> None:
    for rule in knowledge.rules:
        for where, text, item in _texts(rule):
            match = STARTS_DRUG.match(text)
            if not match or where not in {"consider", "suggestion"}:
                continue
            drug = match.group(1).lower()
            facts = json.dumps([item.get("when"), item.get("unless_present")]).lower()
            assert drug in facts, f"{rule['id']} {where}: {text!r} does not depend on whether {drug} is taken"


def test_ms_patient_diazepam_card_never_says_als() -> None:
    for name in (
        "fires-dstu2-select-valium-text-only-ms-info",
        "fires-r4-sign-valium-sbd-ms-info-never-says-als",
    ):
        card = _card(BENZO / f"{name}.response.json", "benzodiazepine-spasticity")
        text = _all_text(card)
        assert not ALS.search(text) and "amyotrophic" not in text.lower(), name
        assert card["indicator"] == "info"
        assert "Multiple sclerosis" in card["detail"]


def test_als_patient_diazepam_card_names_als_and_cites_the_als_guideline() -> None:
    card = _card(
        BENZO / "fires-r4-sign-valium-sbd-als-warning-offers-baclofen-and-tizanidine.response.json",
        "benzodiazepine-spasticity",
    )
    assert "ALS guidance" in card["detail"] and card["indicator"] == "warning"
    assert card["links"][0]["label"].startswith("Canadian ALS guideline")
    assert "Start oral baclofen 5 mg three times daily" in card["detail"]


def test_als_patient_on_baclofen_30_mg_is_told_to_add_tizanidine_not_to_start_baclofen() -> None:
    card = _card(
        BENZO / "fires-r4-sign-diazepam-als-on-baclofen-30-add-tizanidine.response.json",
        "benzodiazepine-spasticity",
    )
    text = _all_text(card)
    assert "30 mg per day" in card["detail"]
    assert "start" not in text.lower().replace("starting", "")
    assert "Add tizanidine to the baclofen" in card["detail"]
    assert [s["label"] for s in card["suggestions"]] == [
        "Replace with tizanidine 2 mg every 6-8 hours as needed, added to the baclofen"
    ]
    assert "Baclofen label: dosage" not in [link["label"] for link in card["links"]]


def test_als_patient_on_tizanidine_is_told_to_add_baclofen() -> None:
    card = _card(
        BENZO / "fires-r4-sign-lorazepam-als-on-tizanidine-add-baclofen.response.json",
        "benzodiazepine-spasticity",
    )
    assert "Add baclofen to the tizanidine" in card["detail"]
    assert all("added to the tizanidine" in s["label"] for s in card["suggestions"])


@pytest.mark.parametrize(
    "name",
    ["fires-r4-sign-diazepam-ingredient-als-icd10-baclofen-tizanidine-active-remove-only"],
)
def test_patient_on_both_first_line_drugs_is_told_to_review_them(name: str) -> None:
    card = _card(BENZO / f"{name}.response.json", "benzodiazepine-spasticity")
    assert "already taken" in card["detail"] and "Start" not in card["detail"]
    second = json.loads((BENZO / f"{name}.response.json").read_text())["cards"][1]
    assert "See above" in second["detail"] and "Baclofen 10 MG" not in second["detail"]
