"""Feedback is never lost: 500 concurrent posts through gunicorn with 2 workers, all stored.

Runs the real service (`spasticity_cds.wsgi:app`) under gunicorn, so two processes with their own
connection pools write to one database at once: SQLite (WAL + busy timeout + BEGIN IMMEDIATE) and
a real PostgreSQL. Every post must answer 200 and every item must be in the database afterwards;
re-sending items must not add rows. The figures measured are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from spasticity_cds.store import Store
from tests.store.common import sqlite_url
from tests.support.gunicorn import running_gunicorn

POSTS = 500
CLIENTS = 32
WORKERS = 2
RULE = "baclofen-dantrolene-combination"
REASON_SYSTEM = "https://spasticity-cds.example.org/override-reason"


def feedback_item(card_uuid: str, index: int) -> dict[str, Any]:
    at = f"2026-11-21T13:{index // 60 % 60:02d}:{index % 60:02d}.{index:03d}Z"
    if index % 2:
        return {"card": card_uuid, "outcome": "accepted", "acceptedSuggestions": [{"id": f"s-{index}"}],
                "outcomeTimestamp": at}  # fmt: skip
    reason = {"code": f"reason-{index % 7}", "system": REASON_SYSTEM}
    return {"card": card_uuid, "outcome": "overridden", "overrideReason": {"reason": reason},
            "outcomeTimestamp": at}  # fmt: skip


def post_all(base_url: str, path: str, bodies: list[dict[str, Any]]) -> tuple[list[int], float]:
    """POST every body from CLIENTS threads at once (one keep-alive session per thread)."""
    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()
    clients = min(CLIENTS, len(bodies))
    start_gate = threading.Barrier(clients)

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            with lock:
                sessions.append(local.session)
            start_gate.wait(timeout=30)  # all clients connect and fire together
        return local.session  # type: ignore[no-any-return]

    def send(body: dict[str, Any]) -> int:
        return session().post(base_url + path, json=body, timeout=60).status_code

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            statuses = list(pool.map(send, bodies))
    finally:
        for s in sessions:
            s.close()
    return statuses, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_500_concurrent_feedback_posts_through_gunicorn_are_all_stored(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = sqlite_url(tmp_path) if backend == "sqlite" else request.getfixturevalue("pg_url")
    cards = [str(uuid.uuid4()) for _ in range(POSTS)]
    with Store(url) as store:  # the service issued these cards earlier
        store.record_cards(
            "order-sign",
            [{"uuid": c, "indicator": "warning", "source": {"topic": {"code": RULE}}} for c in cards],
            datetime.now(UTC),
        )
    bodies = [{"feedback": [feedback_item(card, i)]} for i, card in enumerate(cards)]
    access_log = tmp_path / "access.log"
    env = {"CDS_DATABASE_URL": url, "CDS_DATA_DIR": str(tmp_path / "data"), "CDS_AUTH": "off"}
    extra = ("--access-logfile", str(access_log), "--access-logformat", "%(p)s %(s)s")

    with running_gunicorn(workers=WORKERS, env=env, extra_args=extra) as server:
        discovery = requests.get(server.url + "/cds-services", timeout=10).json()
        service_id = next(s["id"] for s in discovery["services"] if s["hook"] == "order-sign")
        path = f"/cds-services/{service_id}/feedback"

        statuses, elapsed = post_all(server.url, path, bodies)
        retried, _ = post_all(server.url, path, bodies[: POSTS // 5])  # clients retrying: no new rows
        log = server.log_text()

    assert statuses == [200] * POSTS, f"non-200 answers: {sorted(set(statuses))}\n{log[-3000:]}"
    assert retried == [200] * (POSTS // 5)
    served_by = {line.split()[0] for line in access_log.read_text().splitlines() if line.strip()}
    assert len(served_by) == WORKERS, f"expected both workers to serve, saw pids {served_by}"

    with Store(url) as store:
        stored = store.feedback_items()
        counts = store.report()["rules"][RULE]
    assert len(stored) == POSTS
    assert {row["card_uuid"] for row in stored} == set(cards)
    assert all(row["rule_id"] == RULE and row["service_id"] == service_id for row in stored)
    assert (counts["issued"], counts["accepted"], counts["overridden"]) == (POSTS, POSTS // 2, POSTS // 2)
    print(
        f"\n[{backend}] {POSTS} feedback posts from {CLIENTS} clients through gunicorn x{WORKERS}: "
        f"{elapsed:.2f} s ({POSTS / elapsed:.0f}/s), {len(stored)} stored, "
        f"{POSTS // 5} retries added 0 rows"
    )
