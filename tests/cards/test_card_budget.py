"""The card budget of docs/CARD-STYLE.md, checked on EVERY golden response (tests/golden/*/).

Generic on purpose: a golden case another engineer adds (a new rule, a new folder) is covered the
moment its response is recorded. What a clinician must be able to rely on:

* the detail of a warning or critical card fits one screen: at most `budget.max_chars` characters
  and `budget.max_lines` non-empty lines of Markdown source (cards/presentation.yaml);
* the evidence appears once: as `links` labelled with the short titles of cards/sources.yaml
  (never cut mid-word), not again as Markdown links in the detail;
* no codes are shown (no SNOMED / ICD / LOINC / RxNorm code of the request in the detail, nor
  code-shaped tokens in Found lines), and a Found line does not repeat the status its label says;
* no line repeats what an earlier card of the same response already says;
* a card that names ALS belongs to a response whose Found lines show an ALS / MND condition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spasticity_cds.cards import DEFAULT_BUDGET, short_label

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
RESPONSES = sorted(GOLDEN.glob("*/*.response.json"))
MD_LINK = re.compile(r"\]\((https?://[^)\s]+)\)")
# Code-shaped tokens: SNOMED CT ids (6-18 digits), ICD-9/10 (A12, A12.3, 123.45), LOINC (1234-5).
CODE_SHAPES = [
    re.compile(r"\(\s*\d{6,18}\s*\)"),
    re.compile(r"\(\s*[A-TV-Z]\d{2}(\.\d{1,4})?\s*\)"),
    re.compile(r"\(\s*\d{3}(\.\d{1,2})?\s*\)"),
    re.compile(r"\b\d{1,5}-\d\b"),
]
ALS_WORDS = re.compile(r"\bALS\b|\bMND\b")
ALS_CONDITION = re.compile(r"lateral sclerosis|motor neuron|\bALS\b|\bMND\b", re.IGNORECASE)


def _cases() -> list[Path]:
    return RESPONSES


def _found_lines(detail: str, heading: str) -> list[str]:
    lines = detail.splitlines()
    if f"**{heading}**" not in lines:
        return []
    start = lines.index(f"**{heading}**") + 1
    out = []
    for line in lines[start:]:
        if not line.strip():
            break
        out.append(line)
    return out


def _codes_in(node: Any) -> Iterator[str]:
    """Every `code` of a Coding in a request (conditions, medications, observations, reasons)."""
    if isinstance(node, dict):
        if isinstance(node.get("code"), str) and "system" in node:
            yield node["code"]
        for value in node.values():
            yield from _codes_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _codes_in(value)


@pytest.fixture(scope="module")
def budget(knowledge: Any) -> dict[str, int]:
    return {**DEFAULT_BUDGET, **knowledge.presentation.get("budget", {})}


@pytest.fixture(scope="module")
def link_labels(knowledge: Any, budget: dict[str, int]) -> dict[str, set[str]]:
    """url -> the labels a link to that source may carry (two sections of one label share a url)."""
    labels: dict[str, set[str]] = {}
    for s in knowledge.sources.values():
        label = s.get("short") or short_label(s["title"], budget["link_label_max"])
        labels.setdefault(s["url"], set()).add(label)
    return labels


def test_there_are_golden_responses_with_cards() -> None:
    with_cards = [p for p in RESPONSES if json.loads(p.read_text())["cards"]]
    assert len(with_cards) >= 50


@pytest.mark.parametrize("path", _cases(), ids=lambda p: f"{p.parent.name}/{p.name[:-14]}")
def test_golden_response_keeps_the_card_budget(
    path: Path, knowledge: Any, budget: dict[str, int], link_labels: dict[str, str]
) -> None:
    response = json.loads(path.read_text())
    request = json.loads(path.with_name(path.name.replace(".response.json", ".request.json")).read_text())
    p = knowledge.presentation
    h, labels = p["headings"], p["labels"]
    headings = {f"**{text}**" for text in h.values()}
    request_codes = {c for c in _codes_in(request) if len(c) >= 3 and any(ch.isdigit() for ch in c)}
    said: dict[str, int] = {}
    all_found = []
    for index, card in enumerate(response["cards"]):
        detail = card["detail"]
        lines = [line for line in detail.splitlines() if line.strip()]
        if card["indicator"] in {"warning", "critical"}:
            assert len(detail) <= budget["max_chars"], f"card {index}: {len(detail)} characters"
            assert len(lines) <= budget["max_lines"], f"card {index}: {len(lines)} non-empty lines"

        # Evidence once, in the links, with the short titles kept in sources.yaml.
        assert not MD_LINK.search(detail), f"card {index}: evidence as Markdown links in the detail"
        assert card.get("links"), f"card {index} cites no evidence"
        for link in card["links"]:
            assert link["url"] in link_labels, f"card {index}: link to a source not in sources.yaml"
            assert link["label"] in link_labels[link["url"]], f"card {index}: label {link['label']!r}"
            assert len(link["label"]) <= budget["link_label_max"]

        # No codes for clinicians; no status the label already says.
        found = _found_lines(detail, h["found"])
        all_found += found
        for line in found:
            for shape in CODE_SHAPES:
                assert not shape.search(line), f"card {index}: code-shaped text in {line!r}"
            match = re.match(r"- \*\*(.+?)\*\*: (.*)", line)
            if match:
                label_words = set(match.group(1).lower().split())
                parts = [part.strip().lower() for part in match.group(2).split(",")]
                assert not label_words & set(parts[1:]), f"card {index}: status repeated in {line!r}"
        tokens = set(re.findall(r"[A-Za-z0-9.\-]+", detail))
        shown_codes = {c for c in request_codes if c in tokens}
        assert not shown_codes, f"card {index} shows codes {sorted(shown_codes)}"

        # No line repeats what an earlier card (or this one) already says.
        for line in lines:
            if line in headings or line.startswith(f"- **{labels['see_above']}**"):
                continue
            assert line not in said, f"card {index} repeats card {said[line]}: {line!r}"
            said[line] = index

    found_text = "\n".join(all_found)
    for index, card in enumerate(response["cards"]):
        text = " ".join([card["summary"], card["detail"], *[s["label"] for s in card.get("suggestions", [])]])
        if ALS_WORDS.search(text):
            assert ALS_CONDITION.search(found_text), f"card {index} names ALS without an ALS condition"
