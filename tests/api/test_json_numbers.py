"""Numbers a double cannot hold are a 400 naming the problem, never infinity inside the service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spasticity_cds import create_app
from spasticity_cds.config import Config

REPO = Path(__file__).resolve().parents[2]
BODY = (REPO / "benchmarks" / "requests" / "b-diazepam-als-baclofen-order-sign.json").read_text()


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400])
def test_a_number_that_overflows_a_double_is_a_400(number: str, tmp_path: Path) -> None:
    raw = BODY.replace('"value":5', f'"value":{number}', 1)
    assert number in raw
    client = create_app(Config(data_dir=str(tmp_path), log_level="WARNING")).test_client()
    response = client.post("/cds-services/spasticity-order-sign", data=raw, content_type="application/json")
    assert response.status_code == 400
    diagnostics = response.get_json()["issue"][0]["diagnostics"]
    assert "out of range" in diagnostics and "line 1" in diagnostics


def test_a_tiny_number_is_zero_not_an_error(tmp_path: Path) -> None:
    body = json.loads(BODY)
    raw = json.dumps(body).replace('"hookInstance"', '"extension": {"x": 1e-400}, "hookInstance"', 1)
    client = create_app(Config(data_dir=str(tmp_path), log_level="WARNING")).test_client()
    response = client.post("/cds-services/spasticity-order-sign", data=raw, content_type="application/json")
    assert response.status_code == 200
