"""One hook call reads its draft orders once and recognises each new drug once (issue: drafts were
parsed twice and `to_drug` ran twice per request); a reasonReference to the problem list still
resolves once the record is there.

The patient's Conditions and Observations are indexed by reference only for a draft that points
at one (reasonReference): most drafts give no reason or a coded one, and indexing a long record
for them cost a quarter of a millisecond per call. A draft that does point at one still resolves."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from spasticity_cds import create_app, facts, pipeline
from spasticity_cds.config import Config

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "benzodiazepine-spasticity"
FIRES = GOLDEN / "fires-r4-sign-valium-sbd-als-warning-offers-baclofen-and-tizanidine.request.json"
REASON_IN_PREFETCH = GOLDEN / (
    "silent-r4-sign-reason-reference-to-panic-condition-in-prefetch-only.request.json"
)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, Counter[str]]:
    calls: Counter[str] = Counter()
    read, recognise = pipeline.medication_entries, pipeline.to_drug

    def counting_read(*args: Any, **kwargs: Any) -> Any:
        calls[f"read {kwargs['origin']}"] += 1
        return read(*args, **kwargs)

    def counting_recognise(entry: Any, role: str, t: Any) -> Any:
        calls[f"to_drug {role}"] += 1
        return recognise(entry, role, t)

    monkeypatch.setattr(pipeline, "medication_entries", counting_read)
    monkeypatch.setattr(pipeline, "to_drug", counting_recognise)
    monkeypatch.setattr(facts, "to_drug", counting_recognise)
    app = create_app(Config(data_dir=str(tmp_path), repeat_suppression="off"))
    return app.test_client(), calls


def _post(client: Any, path: Path) -> dict[str, Any]:
    response = client.post("/cds-services/spasticity-order-sign", json=json.loads(path.read_text()))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def test_drafts_are_read_once_and_each_new_drug_recognised_once(counted: tuple[Any, Counter[str]]) -> None:
    client, calls = counted
    result = _post(client, FIRES)
    assert [c["source"]["topic"]["code"] for c in result["cards"]][:1] == ["benzodiazepine-spasticity"]
    assert calls["read draft"] == 1
    assert calls["to_drug new"] == 1


def test_a_reason_reference_to_the_problem_list_still_silences(counted: tuple[Any, Counter[str]]) -> None:
    client, calls = counted
    result = _post(client, REASON_IN_PREFETCH)
    assert "benzodiazepine-spasticity" not in [c["source"]["topic"]["code"] for c in result["cards"]]
    assert calls["read draft"] == 1


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
    return [c["source"]["topic"]["code"] for c in _post(client, path)["cards"]]


def test_no_index_without_a_reason_reference(indexed: tuple[Any, list[int]]) -> None:
    client, calls = indexed
    assert _topics(client, FIRES)[:1] == ["benzodiazepine-spasticity"]
    assert calls == []


def test_a_reason_reference_is_resolved_against_the_record(indexed: tuple[Any, list[int]]) -> None:
    client, calls = indexed
    assert "benzodiazepine-spasticity" not in _topics(client, REASON_IN_PREFETCH)
    assert len(calls) == 1 and calls[0] > 0
