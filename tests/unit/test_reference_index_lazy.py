"""The patient's Conditions and Observations are indexed by reference only for a draft that points
at one (reasonReference): most drafts give no reason or a coded one, and indexing a long record
for them cost a quarter of a millisecond per call. A draft that does point at one still resolves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spasticity_cds import create_app, pipeline
from spasticity_cds.config import Config

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "benzodiazepine-spasticity"
FIRES = GOLDEN / "fires-r4-sign-valium-sbd-als-warning-offers-baclofen-and-tizanidine.request.json"
REASON_IN_PREFETCH = GOLDEN / (
    "silent-r4-sign-reason-reference-to-panic-condition-in-prefetch-only.request.json"
)


@pytest.fixture
def indexed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, list[int]]:
    calls: list[int] = []
    index = pipeline._reference_index

    def counting(resources: Any) -> Any:
        calls.append(len(resources))
        return index(resources)

    monkeypatch.setattr(pipeline, "_reference_index", counting)
    app = create_app(Config(data_dir=str(tmp_path), repeat_suppression="off"))
    return app.test_client(), calls


def _topics(client: Any, path: Path) -> list[str]:
    response = client.post("/cds-services/spasticity-order-sign", json=json.loads(path.read_text()))
    assert response.status_code == 200, response.get_data(as_text=True)
    return [c["source"]["topic"]["code"] for c in response.get_json()["cards"]]


def test_no_index_without_a_reason_reference(indexed: tuple[Any, list[int]]) -> None:
    client, calls = indexed
    assert _topics(client, FIRES)[:1] == ["benzodiazepine-spasticity"]
    assert calls == []


def test_a_reason_reference_is_resolved_against_the_record(indexed: tuple[Any, list[int]]) -> None:
    client, calls = indexed
    assert "benzodiazepine-spasticity" not in _topics(client, REASON_IN_PREFETCH)
    assert len(calls) == 1 and calls[0] > 0
