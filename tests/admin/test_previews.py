"""Card previews come from what the wheel ships (service/check_samples), evaluated live; they must
not drift from the golden responses the cards are reviewed against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask

from spasticity_cds.admin.previews import examples
from spasticity_cds.check import load_samples
from tests.conftest import REPO


def _without_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [_without_uuids(v) for v in value]
    return value


def test_every_rule_has_a_firing_and_a_silent_shipped_sample(knowledge: Any) -> None:
    shipped = {(s["rule"], s["expect"]) for s in load_samples()}
    for rule in knowledge.rules:
        assert (rule["id"], "fires") in shipped and (rule["id"], "silent") in shipped, rule["id"]


def test_each_preview_is_the_golden_card(admin_app: Flask, knowledge: Any) -> None:
    found = examples(admin_app.extensions, admin_app.extensions["cds"])
    for rule in knowledge.rules:
        for example in found[rule["id"]]:
            assert example.as_expected, (rule["id"], example.golden, example.error)
            if example.expect != "fires":
                continue
            golden = json.loads(Path(REPO, f"{example.golden}.response.json").read_text())
            expected = next(c for c in golden["cards"] if c["source"]["topic"]["code"] == rule["id"])
            assert _without_uuids(example.card) == _without_uuids(expected), example.golden


def test_previews_record_nothing_in_the_store(admin_client: Any, admin_app: Flask) -> None:
    for rule_id in admin_app.extensions["cds"].knowledge.rules_by_id:
        assert admin_client.get(f"/admin/rules/{rule_id}").status_code == 200
    report = admin_app.extensions["cds"].store.report()
    assert report["rules"] == {}


def test_rule_page_marks_a_sample_that_no_longer_fires(admin_app: Flask) -> None:
    found = examples(admin_app.extensions, admin_app.extensions["cds"])
    rule_id = "dantrolene-hepatic-disease"
    firing = found[rule_id][0]
    found[rule_id][0] = type(firing)(firing.golden, "fires", firing.service, None)
    html = admin_app.test_client().get(f"/admin/rules/{rule_id}").get_data(as_text=True)
    assert "produced no card from this rule" in html and "not as expected" in html
