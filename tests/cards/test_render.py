"""The HTML rendering of a response (service/render.py, `spasticity-cds render`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spasticity_cds.cli import main
from spasticity_cds.render import render_html

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
ALS = GOLDEN / "benzodiazepine-spasticity/fires-r4-sign-diazepam-als-on-baclofen-30-add-tizanidine"


def test_cards_render_with_detail_buttons_links_and_reasons() -> None:
    response = json.loads(ALS.with_name(ALS.name + ".response.json").read_text())
    page = render_html(response, title="ALS")
    assert page.count('<section class="card"') == 2
    assert "<strong>Why it matters:</strong>" in page
    assert "Canadian ALS guideline (CMAJ 2020)" in page
    assert "added to the baclofen" in page and "<option>Prescribed for another indication</option>" in page
    assert '<span class="date">2025-10-17</span>' in page


def test_everything_from_the_response_is_escaped() -> None:
    hostile = {
        "cards": [
            {
                "summary": "<script>alert(1)</script>",
                "indicator": "warning",
                "detail": "**Found**\n- <img src=x onerror=alert(1)>",
                "source": {"label": "<b>x</b>"},
                "links": [{"label": '"><script>', "url": "https://e.org/\"'"}],
            }
        ]
    }
    page = render_html(hostile)
    assert "<script>" not in page and "<img" not in page and "<b>x</b>" not in page


def test_held_back_cards_are_mentioned() -> None:
    extension = {"spasticity-cds": {"heldBack": {"count": 2, "rules": {"r": 2}}}}
    page = render_html({"cards": [], "extension": extension})
    assert "2 card(s) already overridden, not shown again." in page


def test_cli_render_response_and_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(ALS.with_name(ALS.name + ".response.json"))]) == 0
    from_response = capsys.readouterr().out
    assert main(["render", "--request", str(ALS.with_name(ALS.name + ".request.json"))]) == 0
    from_request = capsys.readouterr().out
    assert from_response.startswith("<!doctype html>") and from_request.startswith("<!doctype html>")
    assert from_request.count('<section class="card"') == from_response.count('<section class="card"') == 2


def test_cli_render_refuses_what_is_not_a_response(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"hook": "order-sign"}')
    assert main(["render", str(bad)]) == 2
    assert "not a CDS Hooks response" in capsys.readouterr().err
    bad.write_text("not json")
    assert main(["render", str(bad)]) == 2
