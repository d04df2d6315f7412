"""Never twice (service/repeats.py): select -> override -> sign, through the real HTTP API and store.

A card the clinician overrode on order-select is held back on order-sign (and on a repeated
order-select) for the same draft of the same patient, in the same encounter or within the window;
it is shown again for a critical card, another draft, another patient, after the window, after a
later acceptance, with suppression off, and whenever the suppression store does not answer.
"""

from __future__ import annotations

import copy
import json
import logging
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, event

from spasticity_cds import create_app
from spasticity_cds.config import Config
from spasticity_cds.repeats import SECRET_FILE, RepeatConfigError, RepeatGuard
from spasticity_cds.validation import validator

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
DIAZEPAM_ALS = (
    GOLDEN / "benzodiazepine-spasticity/fires-r4-sign-valium-sbd-als-warning-offers-baclofen-and-tizanidine"
)
DANTROLENE_CIRRHOSIS = GOLDEN / "dantrolene-hepatic-disease/fires-r4-sign-dantrolene-cirrhosis-icd10-critical"
BENZO = "benzodiazepine-spasticity"
SECRET = "test-secret-0123456789abcdef"
START = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def build(tmp_path: Path, clock: Clock) -> Callable[..., Flask]:
    def make(**overrides: Any) -> Flask:
        overrides.setdefault("data_dir", str(tmp_path / "data"))
        return create_app(Config(**overrides), uuid_factory=lambda: str(uuid.uuid4()), clock=clock)

    return make


def _request(case: Path, hook: str = "order-sign", **context: Any) -> dict[str, Any]:
    text = case.with_name(case.name + ".request.json").read_text()
    if "patientId" in context:  # the whole record moves to the other patient (foreign data is ignored)
        original = json.loads(text)["context"]["patientId"]
        text = text.replace(f'"Patient/{original}"', f'"Patient/{context["patientId"]}"')
    body = json.loads(text)
    body["hook"] = hook
    body["hookInstance"] = str(uuid.uuid4())
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    if "draft_id" in context:
        draft["id"] = context.pop("draft_id")
    if hook == "order-select":
        body["context"]["selections"] = [f"{draft['resourceType']}/{draft['id']}"]
    body["context"].update(context)
    return body


def _call(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    service = "spasticity-order-select" if body["hook"] == "order-select" else "spasticity-order-sign"
    response = client.post(f"/cds-services/{service}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    errors = [e.message for e in validator("cds-response.schema.json").iter_errors(result)]
    assert not errors, errors
    return result


def _rules(result: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in result["cards"]]


def _card(result: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(c for c in result["cards"] if c["source"]["topic"]["code"] == rule)


def _feedback(client: Any, card: dict[str, Any], outcome: str, at: datetime, service: str) -> None:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": at.isoformat()}
    if outcome == "overridden":
        reason = card["overrideReasons"][0]
        item["overrideReason"] = {"reason": {"system": reason["system"], "code": reason["code"]}}
    else:
        taken = card.get("suggestions") or []
        item["acceptedSuggestions"] = [{"id": taken[0]["uuid"]}] if taken else []
    response = client.post(f"/cds-services/{service}/feedback", json={"feedback": [item]})
    assert response.status_code == 200, response.get_data(as_text=True)


def _override_on_select(
    client: Any, clock: Clock, case: Path = DIAZEPAM_ALS, **context: Any
) -> dict[str, Any]:
    first = _call(client, _request(case, "order-select", **context))
    for card in first["cards"]:
        if card["indicator"] != "info":
            _feedback(client, card, "overridden", clock.now, "spasticity-order-select")
    return first


def test_services_are_named_as_the_tests_expect(build: Callable[..., Flask]) -> None:
    ids = {s["id"] for s in build().test_client().get("/cds-services").get_json()["services"]}
    assert {"spasticity-order-select", "spasticity-order-sign"} <= ids


def test_overridden_card_is_held_back_on_sign_and_counted(
    build: Callable[..., Flask], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    client = build().test_client()
    first = _override_on_select(client, clock)
    assert _rules(first) == [BENZO]
    clock.now += timedelta(minutes=2)
    with caplog.at_level(logging.INFO):
        second = _call(client, _request(DIAZEPAM_ALS))
    assert second["cards"] == []
    assert second["extension"] == {"spasticity-cds": {"heldBack": {"count": 1, "rules": {BENZO: 1}}}}
    access = [r.__dict__ for r in caplog.records if r.name.endswith("access")]
    assert any((entry.get("fields") or entry).get("rules_held_back") == {BENZO: 1} for entry in access), (
        "the JSON access log line keeps the rule id and count"
    )
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'cds_cards_held_back_total{{rule="{BENZO}"}}' in metrics


def test_repeated_order_select_is_held_back_too(build: Callable[..., Flask], clock: Clock) -> None:
    client = build().test_client()
    _override_on_select(client, clock)
    again = _call(client, _request(DIAZEPAM_ALS, "order-select"))
    assert again["cards"] == [] and again["extension"]["spasticity-cds"]["heldBack"]["count"] == 1


def test_a_critical_card_is_never_held_back(build: Callable[..., Flask], clock: Clock) -> None:
    client = build().test_client()
    first = _override_on_select(client, clock, DANTROLENE_CIRRHOSIS)
    assert _card(first, "dantrolene-hepatic-disease")["indicator"] == "critical"
    second = _call(client, _request(DANTROLENE_CIRRHOSIS))
    assert "dantrolene-hepatic-disease" in _rules(second)
    assert "extension" not in second


def test_another_draft_or_another_patient_is_shown(build: Callable[..., Flask], clock: Clock) -> None:
    client = build().test_client()
    _override_on_select(client, clock)
    assert _rules(_call(client, _request(DIAZEPAM_ALS, draft_id="mr-diaz-2"))) == [BENZO]
    assert _rules(_call(client, _request(DIAZEPAM_ALS, patientId="pat-2"))) == [BENZO]
    assert _call(client, _request(DIAZEPAM_ALS))["cards"] == []  # the original is still held


def test_window_without_encounter_default_12_hours(build: Callable[..., Flask], clock: Clock) -> None:
    client = build().test_client()
    _override_on_select(client, clock)
    clock.now = START + timedelta(hours=11, minutes=59)
    assert _call(client, _request(DIAZEPAM_ALS))["cards"] == []
    clock.now = START + timedelta(hours=12, minutes=1)
    assert _rules(_call(client, _request(DIAZEPAM_ALS))) == [BENZO]


def test_window_is_configurable(build: Callable[..., Flask], clock: Clock) -> None:
    client = build(repeat_window_hours=1.0).test_client()
    _override_on_select(client, clock)
    clock.now = START + timedelta(minutes=61)
    assert _rules(_call(client, _request(DIAZEPAM_ALS))) == [BENZO]


def test_same_encounter_holds_beyond_the_window_another_encounter_does_not(
    build: Callable[..., Flask], clock: Clock
) -> None:
    client = build().test_client()
    _override_on_select(client, clock, encounterId="enc-1")
    clock.now = START + timedelta(hours=30)
    assert _call(client, _request(DIAZEPAM_ALS, encounterId="enc-1"))["cards"] == []
    assert _rules(_call(client, _request(DIAZEPAM_ALS, encounterId="enc-2"))) == [BENZO]


def test_the_last_feedback_wins(build: Callable[..., Flask], clock: Clock) -> None:
    client = build().test_client()
    first = _override_on_select(client, clock)
    later = clock.now + timedelta(seconds=30)
    _feedback(client, first["cards"][0], "accepted", later, "spasticity-order-select")
    assert _rules(_call(client, _request(DIAZEPAM_ALS))) == [BENZO]


def test_suppression_off_shows_every_card(build: Callable[..., Flask], clock: Clock) -> None:
    client = build(repeat_suppression="off").test_client()
    _override_on_select(client, clock)
    assert _rules(_call(client, _request(DIAZEPAM_ALS))) == [BENZO]


def test_suppression_off_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_REPEAT_SUPPRESSION", "off")
    assert Config.from_env().repeat_suppression == "off"
    assert RepeatGuard.from_config(Config.from_env(), create_engine("sqlite://")) is None


def test_store_outage_shows_the_card(build: Callable[..., Flask], clock: Clock) -> None:
    app = build(repeat_freshness=0)  # the store is asked on every call
    client = app.test_client()
    _override_on_select(client, clock)
    assert _call(client, _request(DIAZEPAM_ALS))["cards"] == []
    guard = app.extensions["cds-repeats"]
    guard.engine = create_engine("postgresql+psycopg://cds@127.0.0.1:9/none?connect_timeout=1")
    assert _rules(_call(client, _request(DIAZEPAM_ALS))) == [BENZO]


def test_an_outage_is_noticed_once_the_index_is_older_than_the_freshness(
    build: Callable[..., Flask], clock: Clock
) -> None:
    app = build(repeat_freshness=60)
    client = app.test_client()
    _override_on_select(client, clock)
    guard = app.extensions["cds-repeats"]
    guard.engine = create_engine("postgresql+psycopg://cds@127.0.0.1:9/none?connect_timeout=1")
    # Within the freshness the worker answers from its index: the override it knows still holds.
    assert _call(client, _request(DIAZEPAM_ALS))["cards"] == []
    guard.index.checked_at = time.monotonic() - 61  # the index is now older than the freshness
    assert _rules(_call(client, _request(DIAZEPAM_ALS))) == [BENZO]


def test_an_index_past_its_freshness_is_refreshed_in_the_background_while_calls_go_on(
    build: Callable[..., Flask], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past half the freshness (and within it), a call answers from the index as it is and a check
    of the store starts beside it: the call does not wait, even for a store that hangs."""
    app = build(repeat_freshness=60, repeat_timeout=5)
    client = app.test_client()
    _override_on_select(client, clock)
    guard = app.extensions["cds-repeats"]
    released = threading.Event()
    reads: list[float] = []

    def slow_read(now: object) -> None:
        reads.append(time.monotonic())
        released.wait(10)

    monkeypatch.setattr(guard, "_read_store", slow_read)
    guard.index.checked_at = time.monotonic() - 45  # past half the freshness, within it
    started = time.perf_counter()
    assert _call(client, _request(DIAZEPAM_ALS))["cards"] == []  # the override it knows holds
    assert _call(client, _request(DIAZEPAM_ALS))["cards"] == []
    assert time.perf_counter() - started < 2  # neither call waited for the 10-second read
    # The check runs on the guard's own thread, which a loaded machine may not have scheduled yet.
    deadline = time.monotonic() + 5
    while not reads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(reads) == 1  # one check under way, not one per call
    released.set()


def test_a_hanging_store_is_given_up_on_after_the_timeout(
    build: Callable[..., Flask], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build(repeat_timeout=0.2, repeat_freshness=0)
    client = app.test_client()
    _override_on_select(client, clock)
    guard = app.extensions["cds-repeats"]
    monkeypatch.setattr(guard, "_read_store", lambda *a: time.sleep(2))
    started = time.perf_counter()
    result = _call(client, _request(DIAZEPAM_ALS))
    assert _rules(result) == [BENZO]
    # Calls arriving while the check hangs wait for the same check: no pile of pool threads.
    result = _call(client, _request(DIAZEPAM_ALS))
    assert _rules(result) == [BENZO]
    assert time.perf_counter() - started < 1.5


def test_the_cost_of_a_call_does_not_grow_with_repeats_of_the_same_order(
    build: Callable[..., Flask], clock: Clock
) -> None:
    """The index is keyed by feedback, not by every card shown: after 300 showings of one order
    (300 card rows with one identity) a call's look at the store is still one index read of the
    newest feedback id, and the override is still found."""
    app = build(repeat_freshness=0)
    client = app.test_client()
    body = _request(DIAZEPAM_ALS)
    shown = _call(client, body)
    _feedback(client, shown["cards"][0], "accepted", clock.now, "spasticity-order-sign")
    for _ in range(300):
        _call(client, body)
    assert app.extensions["cds"].writer.flush(timeout=5)
    guard = app.extensions["cds-repeats"]
    guard.index._changed_at = float("-inf")  # noqa: SLF001 - past the settling time
    statements: list[str] = []
    event.listen(guard.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert _rules(_call(client, body)) == [BENZO]
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1 and "max(feedback.id)" in reads[0], reads
    last = _call(client, body)["cards"][0]
    _feedback(client, last, "overridden", clock.now + timedelta(seconds=1), "spasticity-order-sign")
    assert _call(client, body)["cards"] == []


def test_the_store_holds_no_patient_or_order_identifiers(tmp_path: Path, clock: Clock) -> None:
    database = tmp_path / "cds.sqlite3"
    config = Config(data_dir=str(tmp_path / "data"), database_url=f"sqlite:///{database}")
    client = create_app(config, uuid_factory=lambda: str(uuid.uuid4()), clock=clock).test_client()
    _override_on_select(client, clock, patientId="pat-secret-42", encounterId="enc-secret-7")
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT * FROM card_repeats").fetchall()
    assert rows and all(len(row[2]) == 64 and len(row[3]) == 64 for row in rows)
    dump = repr(rows)
    for identifier in ("pat-secret-42", "enc-secret-7", "mr-diaz"):
        assert identifier not in dump


def test_generated_secret_is_per_install_and_private(tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path / "data"))
    engine = create_engine("sqlite://")
    guard = RepeatGuard.from_config(config, engine)
    again = RepeatGuard.from_config(config, engine)
    assert guard is not None and again is not None
    path = tmp_path / "data" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert guard._secret == again._secret  # noqa: SLF001 - the same install, the same key
    other = RepeatGuard.from_config(Config(data_dir=str(tmp_path / "other")), engine)
    assert other is not None and other._secret != guard._secret  # noqa: SLF001


def test_shared_database_without_secret_turns_suppression_off(caplog: pytest.LogCaptureFixture) -> None:
    config = Config(database_url="postgresql+psycopg://cds@127.0.0.1:9/none")
    with caplog.at_level(logging.WARNING):
        assert RepeatGuard.from_config(config, create_engine("sqlite://")) is None
    assert "CDS_REPEAT_SECRET" in caplog.text


def test_a_short_secret_fails_at_start_up(build: Callable[..., Flask]) -> None:
    with pytest.raises(RepeatConfigError):
        build(repeat_secret="short")


def test_the_secret_is_not_in_the_configuration_repr() -> None:
    assert SECRET not in repr(Config(repeat_secret=SECRET))


def test_only_the_finding_identity_matters_not_the_request_copy(
    build: Callable[..., Flask], clock: Clock
) -> None:
    """A different hookInstance and a re-serialised bundle are still the same draft."""
    client = build().test_client()
    _override_on_select(client, clock)
    body = copy.deepcopy(_request(DIAZEPAM_ALS))
    body["context"]["draftOrders"]["entry"][0]["resource"]["note"] = [{"text": "re-sent"}]
    assert _call(client, body)["cards"] == []
