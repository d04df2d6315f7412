"""The token index that finds drug names in free text gives what the word-boundary regex gave."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spasticity_cds.terminology import PhraseIndex, _word_pattern

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _regex_find(pattern: re.Pattern[str], text: str) -> list[str]:
    return [re.sub(r"\s+", " ", m.group(0).lower()) for m in pattern.finditer(text)]


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k in {"text", "display"} and isinstance(v, str)] + [
            t for v in node.values() for t in _texts(v)
        ]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def test_same_names_as_the_regex_on_every_golden_text(knowledge: Any) -> None:
    names = list(knowledge.terminology.names)
    pattern, index = _word_pattern(names), PhraseIndex(names)
    assert pattern is not None
    texts = {t for p in GOLDEN.glob("*/*.request.json") for t in _texts(json.loads(p.read_text()))}
    assert len(texts) > 100
    for text in texts:
        assert index.find(text) == _regex_find(pattern, text), text


NAMES = [
    "ms contin",
    "ms",
    "estrogens, conjugated",
    "ethinyl estradiol",
    "estradiol",
    "darvon-n",
    "oxycodone",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([*NAMES, "MS", "Contin", "x", "-", ",", "  ", " ", "\n", "5mg", "/", "Oxycodone-5"]),
        max_size=12,
    )
)
def test_same_names_as_the_regex_on_generated_text(parts: list[str]) -> None:
    text = " ".join(parts) if len(parts) % 2 else "".join(parts)
    pattern = _word_pattern(NAMES)
    assert pattern is not None
    assert PhraseIndex(NAMES).find(text) == _regex_find(pattern, text)
