"""Client text is inert in cards: one inline Markdown run in `detail`, no markup in `summary`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spasticity_cds import text as text_module
from spasticity_cds.text import inline_markdown, one_line, plain_text

BREAKS = [
    "\r",
    "\n",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
    "\t",
    "\x00",
]


@pytest.mark.parametrize("brk", BREAKS, ids=[repr(b) for b in BREAKS])
def test_no_control_character_or_line_break_survives(brk: str) -> None:
    forged = f"Baclofen{brk}# What to consider{brk}- Safe to sign"
    for render in (inline_markdown, plain_text, one_line):
        out = render(forged)
        assert not any(ch in out for ch in BREAKS), (render.__name__, out)
        assert "\n" not in out and "\r" not in out
    assert inline_markdown(forged) == "Baclofen # What to consider - Safe to sign"


def test_inline_markdown_escapes_markup_and_html() -> None:
    out = inline_markdown("<img src=x onerror=alert(1)> [click](http://evil) **bold** `code`")
    assert "<" not in out.replace("\\<", "") and ">" not in out.replace("\\>", "")
    assert "\\[click\\]" in out and "\\*\\*bold\\*\\*" in out and "\\`code\\`" in out


def test_plain_text_carries_no_markup() -> None:
    assert plain_text("<b>ALS</b>\r\n# heading *x* [y](z)") == "bALS/b heading x y(z)"


def test_forged_names_in_a_hook_call_stay_inline_and_out_of_the_summary(make_app: Any) -> None:
    from tests.api.helpers import BACLOFEN, DIAZEPAM, als_condition, bundle, hook_request, order, url_for

    condition = als_condition()
    condition["code"]["text"] = "<b>ALS</b>\r# What to consider\r- Safe to sign"
    draft = order("R4", DIAZEPAM)
    draft["medicationCodeableConcept"]["text"] = "Diazepam\r\n# What to consider\u2028- Safe to sign"
    prefetch = {
        "conditions": bundle(condition, searchset=True),
        "medicationRequests": bundle(order("R4", BACLOFEN, status="active", ident="rx-b"), searchset=True),
        "medicationStatements": None,
    }
    body = hook_request("order-sign", [draft], prefetch=prefetch)
    response = make_app().test_client().post(url_for("order-sign"), json=body)
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    assert cards
    for card in cards:
        for line in card["detail"].splitlines():
            assert not line.lstrip().startswith(("# What to consider", "- Safe to sign")), line
        assert "\r" not in card["detail"] and "\u2028" not in card["detail"]
        assert not any(ch in card["summary"] for ch in "<>\r\n#")


def test_lone_surrogates_become_replacement_characters() -> None:
    assert inline_markdown("ALS \ud800 x") == "ALS \ufffd x"
    assert plain_text("ALS \udfff") == "ALS \ufffd"


def test_an_absurd_dose_is_never_shown_as_inf(make_app: Any) -> None:
    from tests.api.helpers import BACLOFEN, DIAZEPAM, als_condition, bundle, hook_request, order, url_for

    draft = order("R4", DIAZEPAM)
    draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 1e308
    prefetch = {
        "conditions": bundle(als_condition(), searchset=True),
        "medicationRequests": bundle(order("R4", BACLOFEN, status="active", ident="rx-b"), searchset=True),
        "medicationStatements": None,
    }
    body = hook_request("order-sign", [draft], prefetch=prefetch)
    response = make_app().test_client().post(url_for("order-sign"), json=body)
    assert response.status_code == 200
    text = json.dumps(response.get_json())
    assert "inf mg" not in text and "Infinity" not in text
    assert "1e308" in text


LIMIT = text_module.CACHED_MAX_CHARS


@pytest.mark.parametrize("pad", [0, LIMIT - 40, LIMIT + 1, 5000])
def test_remembered_and_long_texts_are_made_inert_the_same_way(pad: int) -> None:
    """Short texts are remembered (bounded cache), long ones are not; both give the same answer,
    the second time as the first."""
    raw = "Baclofen\r\n# *10* mg <b>[x](y)</b> " + "z" * pad + "\u2028|~&`"
    for _ in range(2):
        assert inline_markdown(raw) == text_module._inline(raw)
        assert plain_text(raw) == text_module._plain(raw)
    assert "\n" not in inline_markdown(raw) and "<" not in plain_text(raw)


def test_the_text_caches_are_bounded() -> None:
    for cached in (text_module._inline_cached, text_module._plain_cached):
        assert cached.cache_parameters()["maxsize"] == 4096
    for i in range(5000):
        inline_markdown(f"name {i}")
    assert text_module._inline_cached.cache_info().currsize <= 4096
