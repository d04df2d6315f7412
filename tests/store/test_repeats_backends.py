"""Repeat suppression on both back ends (SQLite file, real PostgreSQL), across replicas and threads."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from spasticity_cds import create_app
from spasticity_cds.config import Config
from tests.api.test_repeats import BENZO, DIAZEPAM_ALS, SECRET, Clock, _call, _feedback, _request, _rules
from tests.store.common import sqlite_url

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sqlite_url(tmp_path) if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


def _replica(tmp_path: Path, name: str, url: str, clock: Clock) -> Any:
    config = Config(data_dir=str(tmp_path / name), database_url=url, repeat_secret=SECRET, repeat_timeout=2.0)
    return create_app(config, uuid_factory=lambda: str(uuid.uuid4()), clock=clock).test_client()


def test_override_on_one_replica_holds_the_card_back_on_another(tmp_path: Path, database_url: str) -> None:
    clock = Clock()
    a, b = _replica(tmp_path, "a", database_url, clock), _replica(tmp_path, "b", database_url, clock)
    first = _call(a, _request(DIAZEPAM_ALS, "order-select"))
    assert _rules(first) == [BENZO]
    # a records what it showed off the hook path; the clinician's seconds before an override let
    # its writer finish (flushed here rather than slept).
    assert a.application.extensions["cds"].writer.flush(timeout=5)
    _feedback(b, first["cards"][0], "overridden", clock.now, "spasticity-order-select")
    assert _call(b, _request(DIAZEPAM_ALS))["cards"] == []  # b stored it: b knows at once
    # a learns of it at its next look at the store, at most CDS_REPEAT_FRESHNESS (0.2 s) later.
    time.sleep(0.25)
    assert _call(a, _request(DIAZEPAM_ALS))["cards"] == []
    assert _rules(_call(a, _request(DIAZEPAM_ALS, patientId="pat-other"))) == [BENZO]


def test_feedback_that_arrives_before_its_card_row_holds_back_once_the_row_is_written(
    tmp_path: Path, database_url: str
) -> None:
    """Replica a issued the card and has not written its identity yet (its writer's batch is still
    open) when the override reaches replica b: b keeps the feedback pending and matches it once a's
    row is there."""
    clock = Clock()
    a, b = _replica(tmp_path, "a", database_url, clock), _replica(tmp_path, "b", database_url, clock)
    writer_a = a.application.extensions["cds"].writer
    writer_a.interval = 30.0  # a's batch stays open until flushed below
    first = _call(a, _request(DIAZEPAM_ALS, "order-select"))
    guard_b = b.application.extensions["cds-repeats"]
    guard_b.freshness = 0
    _feedback(b, first["cards"][0], "overridden", clock.now, "spasticity-order-select")
    assert _rules(_call(b, _request(DIAZEPAM_ALS))) == [BENZO]  # no identity for that card yet
    assert guard_b.index._pending  # noqa: SLF001 - the feedback waits for its card
    assert writer_a.flush(timeout=5)
    assert _call(b, _request(DIAZEPAM_ALS))["cards"] == []
    assert not guard_b.index._pending  # noqa: SLF001


def test_concurrent_signs_after_an_override_are_all_held_back(tmp_path: Path, database_url: str) -> None:
    clock = Clock()
    a = _replica(tmp_path, "a", database_url, clock)
    first = _call(a, _request(DIAZEPAM_ALS, "order-select"))
    _feedback(a, first["cards"][0], "overridden", clock.now, "spasticity-order-select")
    replicas = [_replica(tmp_path, f"r{i}", database_url, clock) for i in range(2)]

    def sign(i: int) -> list[str]:
        # Another patient's calls write card_repeats rows at the same time as the held-back reads.
        client = replicas[i % 2]
        held = _call(client, _request(DIAZEPAM_ALS))
        shown = _call(client, _request(DIAZEPAM_ALS, patientId=f"other-patient-{i}"))
        return _rules(held) + ["|"] + _rules(shown)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(sign, range(8)))
    assert results == [["|", BENZO]] * 8
