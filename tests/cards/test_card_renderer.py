"""The renderer keeps the budget itself (fewer Found lines, with a count) and says "See above"
only for lines an earlier card really lists."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from flask import Flask

from spasticity_cds.cards import CardRenderer, short_label
from spasticity_cds.pipeline import find

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASE = (
    GOLDEN
    / "benzodiazepine-spasticity"
    / "fires-r4-sign-diazepam-ingredient-als-icd10-baclofen-tizanidine-active-remove-only.request.json"
)


def _findings(app: Flask) -> tuple[Any, list[Any], dict[str, Any]]:
    rt = app.extensions["cds"]
    body = json.loads(CASE.read_text())
    service = rt.knowledge.services["spasticity-order-sign"]
    with app.app_context():
        return rt, find(body, service=service, runtime=rt), body


def test_a_tight_budget_lists_fewer_found_lines_and_counts_the_rest(app: Flask) -> None:
    rt, findings, _ = _findings(app)
    presentation = {**rt.knowledge.presentation, "budget": {"max_chars": 600, "max_lines": 9}}
    tight = dataclasses.replace(rt.knowledge, presentation=presentation)
    first, second = CardRenderer(tight, rt.uuid_factory).render_all(findings, patient_id="p")
    assert len(first["detail"]) <= 600 or first["detail"].count("\n- **") == 1
    assert "more in the record" in first["detail"]
    # What the first card could not list, the second card lists itself instead of "see above".
    assert "Baclofen 10 MG" not in first["detail"]
    assert "**Active medication**: Baclofen 10 MG" in second["detail"]
    assert "See above**: New order" in second["detail"]


def test_without_a_response_each_card_lists_all_its_found_lines(app: Flask) -> None:
    rt, findings, _ = _findings(app)
    renderer = CardRenderer(rt.knowledge, rt.uuid_factory)
    cards = [renderer.render(f, patient_id="p") for f in findings]
    assert all("See above" not in card["detail"] for card in cards)
    assert all("Baclofen 10 MG" in card["detail"] for card in cards)


def test_link_labels_are_cut_at_a_word_boundary() -> None:
    title = "Shoesmith C, et al. Canadian best practice recommendations for ALS. CMAJ 2020;192(46):E1453"
    label = short_label(title, 60)
    assert len(label) <= 60 and label.endswith("…")
    assert title.startswith(label[:-1]) and title[len(label) - 1] in " ,;:("
    assert short_label("Short title", 60) == "Short title"
