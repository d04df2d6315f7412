"""The pages: off by default, each page answers HTML with the rule files' content, strict headers,
clear 4xx pages for bad input, escaped text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from spasticity_cds.admin.previews import render_markdown

PAGES = ("/admin/", "/admin/rules", "/admin/rules/benzodiazepine-spasticity", "/admin/analytics")


@pytest.mark.parametrize("path", [*PAGES, "/admin/static/admin.css"])
def test_off_by_default(client: Any, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", PAGES)
def test_each_page_answers_html_with_strict_headers(admin_client: Any, path: str) -> None:
    response = admin_client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script" not in csp  # no script may run at all
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.get_data(as_text=True)
    assert html.startswith("<!doctype html>") and '<html lang="en">' in html
    assert "<script" not in html


def test_stylesheet_is_served(admin_client: Any) -> None:
    response = admin_client.get("/admin/static/admin.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert ".card-critical" in response.get_data(as_text=True)


def test_index_and_catalogue_list_every_rule(admin_client: Any, knowledge: Any) -> None:
    index = admin_client.get("/admin/").get_data(as_text=True)
    catalogue = admin_client.get("/admin/rules").get_data(as_text=True)
    for rule in knowledge.rules:
        assert f'/admin/rules/{rule["id"]}"' in index
        assert f'data-rule-id="{rule["id"]}"' in catalogue
    assert f"{len(knowledge.rules)} rules" in catalogue


def test_rule_page_shows_triggers_exceptions_evidence_and_card(admin_client: Any, knowledge: Any) -> None:
    html = admin_client.get("/admin/rules/benzodiazepine-spasticity").get_data(as_text=True)
    rule = knowledge.rules_by_id["benzodiazepine-spasticity"]
    assert rule["title"] in html
    assert "benzodiazepine (oral/unspecified)" in html  # what fires it, worded as docs/RULES.md
    assert "context: spasticity" in html
    assert "Silenced when" in html and "order reason: benzodiazepine-other-indications" in html
    for source_id in rule["card"]["citations"]:
        assert knowledge.sources[source_id]["url"].replace("&", "&amp;") in html
    assert 'class="card card-warning"' in html  # the ALS sample's card is a warning
    assert '<button type="button" class="suggestion recommended">' in html
    for reason in rule["card"]["override_reasons"]:
        assert reason["display"] in html
    assert "<strong>Found</strong>" in html  # the Markdown detail, rendered
    assert "No review record in the rule file yet." in html or "Last reviewed" in html


def test_review_block_is_rendered_when_present(admin_client: Any, admin_app: Flask) -> None:
    knowledge = admin_app.extensions["cds"].knowledge
    rule = dict(knowledge.rules_by_id["baclofen-renal-impairment"])
    rule["review"] = {"author": "A. Author", "reviewer": "R. Reviewer", "last_reviewed": "2025-01-10",
                      "next_review": "2026-01-10"}  # fmt: skip
    original = knowledge.rules
    rules = tuple(rule if r["id"] == rule["id"] else r for r in original)
    # The Knowledge is frozen and shared by every app of this process (loaded once): put it back.
    object.__setattr__(knowledge, "rules", rules)
    try:
        html = admin_client.get("/admin/rules/baclofen-renal-impairment").get_data(as_text=True)
        listing = admin_client.get("/admin/rules").get_data(as_text=True)
    finally:
        object.__setattr__(knowledge, "rules", original)
    for text in ("A. Author", "R. Reviewer", "2025-01-10", "2026-01-10", "Next review"):
        assert text in html
    assert "overdue" in html  # 2026-01-10 is before the test clock's 2026-11-21
    assert "2026-01-10" in listing


def test_unknown_rule_is_a_404_page(admin_client: Any) -> None:
    response = admin_client.get("/admin/rules/%3Cscript%3Ealert(1)")
    assert response.status_code == 404 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("days", ["5", "abc", "-7", "30.0", "1e9"])
def test_unknown_period_is_a_400_page(admin_client: Any, days: str) -> None:
    response = admin_client.get(f"/admin/analytics?days={days}")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "days must be one of 7, 30, 90" in response.get_data(as_text=True)


@pytest.mark.parametrize("days", ["7", "30", "90"])
def test_each_period_answers(admin_client: Any, days: str) -> None:
    html = admin_client.get(f"/admin/analytics?days={days}").get_data(as_text=True)
    assert f'data-days="{days}"' in html and f'aria-current="page">{days} days' in html


def test_markdown_escapes_html_and_keeps_links_inert() -> None:
    html = str(render_markdown("**Found**\n- <img src=x onerror=alert(1)> [x](javascript:alert(1))"))
    assert "<img" not in html and "&lt;img" in html
    assert 'href="javascript' not in html
    assert "<strong>Found</strong>" in html


def test_pages_hold_no_patient_identifiers(admin_client: Any, make_app: Callable[..., Flask]) -> None:
    from spasticity_cds.check import load_samples

    ids = {s["request"]["context"].get("patientId") for s in load_samples()} - {None}
    for path in PAGES:
        html = admin_client.get(path).get_data(as_text=True)
        assert not [i for i in ids if f">{i}<" in html or f'"{i}"' in html], path
