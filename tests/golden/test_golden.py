"""Golden request/response pairs, one folder per rule (plus `baseline/`, which must stay silent).

A case named `fires-*.request.json` must produce a card whose `source.topic.code` is the folder's
rule id; `silent-*` must not. In both cases the whole response must equal the recorded
`*.response.json` and validate against schemas/cds-response.schema.json. After an intended change,
re-record with `UPDATE_GOLDEN=1 pytest tests/golden` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from spasticity_cds.validation import validator

HERE = Path(__file__).resolve().parent
CASES = sorted(HERE.glob("*/*.request.json"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _service_for(knowledge: Any, hook: str) -> str:
    return next(sid for sid, s in knowledge.services.items() if s["hook"] == hook)


@pytest.mark.parametrize("request_path", CASES, ids=lambda p: f"{p.parent.name}/{p.name[:-13]}")
def test_golden_case(request_path: Path, client: Any, knowledge: Any) -> None:
    body = json.loads(request_path.read_text())
    response = client.post(f"/cds-services/{_service_for(knowledge, body['hook'])}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    errors = [e.message for e in validator("cds-response.schema.json").iter_errors(result)]
    assert not errors, errors

    folder, name = request_path.parent.name, request_path.name
    topics = [card["source"]["topic"]["code"] for card in result["cards"]]
    if folder == "baseline":
        assert result == {"cards": []}
    elif name.startswith("fires-"):
        assert folder in topics, f"expected a {folder} card, got {topics}"
        assert topics.count(folder) == 1, "one card per rule per response"
    elif name.startswith("silent-"):
        assert folder not in topics, f"expected no {folder} card, got {topics}"
    else:
        pytest.fail(f"{name}: golden case names start with fires- or silent-")

    expected_path = request_path.with_name(name.replace(".request.json", ".response.json"))
    if UPDATE:
        expected_path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    assert expected_path.exists(), f"missing {expected_path.name}; record it with UPDATE_GOLDEN=1"
    assert result == json.loads(expected_path.read_text())


def test_every_rule_has_firing_and_silent_cases(knowledge: Any) -> None:
    for rule in knowledge.rules:
        names = [p.name for p in CASES if p.parent.name == rule["id"]]
        fires = [n for n in names if n.startswith("fires-")]
        silent = [n for n in names if n.startswith("silent-")]
        assert len(fires) >= 3 and len(silent) >= 3, (
            f"{rule['id']}: {len(fires)} firing, {len(silent)} silent"
        )


def test_benign_baseline_is_large_enough() -> None:
    assert len([p for p in CASES if p.parent.name == "baseline"]) >= 30
