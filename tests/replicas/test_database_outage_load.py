"""A PostgreSQL outage under load: two gunicorn replicas behind nginx, JWT on, the database stopped
mid-run and started again.

What it shows (figures printed, `pytest -s`):

1. every hook call during the outage answers 200 with its cards (no 5xx at all), with JWT on, so
   the `jti` check works from the per-process replay cache;
2. a worker restarted (SIGTERM) during the outage is replaced and the replica keeps serving (a
   worker boots without the database); the rows it held are spooled and written by its successor;
3. `/ready` is 503 during the outage and 200 again within seconds after the database returns;
   `/health` stays 200;
4. nothing that got a 200 is lost: every card uuid answered is in `issued_cards` afterwards;
   the background writers' metrics show the rows buffered meanwhile, and none dropped.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from spasticity_cds.store import Store
from tests.support.gunicorn import REPO_ROOT, GunicornServer, start_gunicorn
from tests.support.jwks_server import public_jwk
from tests.support.nginx import SKIP_MESSAGE as NGINX_SKIP
from tests.support.nginx import NginxServer, find_nginx, running_nginx
from tests.support.postgres import PostgresServer, free_port, running_postgres

ISSUER = "https://ehr.outage.example.org"
KID = "outage-es384"
HOOK = json.loads((REPO_ROOT / "docs" / "examples" / "order-sign-diazepam-als.json").read_text())
SERVICE_PATH = "/cds-services/spasticity-order-sign"
CLIENTS = 6
BEFORE, OUTAGE, AFTER = 2.0, 8.0, 3.0  # seconds of load in each phase


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels` (Prometheus text format)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


@pytest.fixture
def outage_topology(
    tmp_path: Path,
) -> Iterator[tuple[PostgresServer, str, dict[str, GunicornServer], NginxServer, Any]]:
    if find_nginx() is None:
        pytest.skip(NGINX_SKIP)
    key = ec.generate_private_key(ec.SECP384R1())
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(key, KID, alg="ES384", use="sig")]}))
    with ExitStack() as stack:
        postgres = stack.enter_context(running_postgres())
        database_url = postgres.create_database("outage")
        Store(database_url).close()
        nginx_port = free_port()
        base_url = f"http://127.0.0.1:{nginx_port}"

        def replica(name: str) -> GunicornServer:
            metrics_dir = tmp_path / f"metrics-{name}"
            metrics_dir.mkdir()
            env = {
                "CDS_DATABASE_URL": database_url,
                "CDS_DATA_DIR": str(tmp_path / f"data-{name}"),
                "CDS_AUTH": "jwt",
                "CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: str(jwks)}),
                "CDS_BASE_URL": base_url,
                "CDS_THREADS": "4",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            }
            return start_gunicorn(workers=2, env=env, ready_path="/health",
                                  extra_args=("-c", "python:spasticity_cds.gunicorn_conf"))  # fmt: skip

        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {name: pool.submit(replica, name) for name in ("A", "B")}
        for future in futures.values():
            if future.exception() is None:
                stack.callback(future.result().stop)
        replicas = {name: future.result() for name, future in futures.items()}
        proxy = stack.enter_context(running_nginx([s.port for s in replicas.values()], port=nginx_port))

        def token() -> str:
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": base_url + SERVICE_PATH, "iat": now, "exp": now + 300,
                      "jti": str(uuid.uuid4())}  # fmt: skip
            return jwt.encode(claims, key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})

        try:
            yield postgres, database_url, replicas, proxy, token
        finally:
            for name, server in replicas.items():
                (tmp_path / f"gunicorn-{name}.log").write_text(server.log_text())


@pytest.mark.slow
def test_hook_calls_answer_through_a_database_outage_under_load(
    outage_topology: tuple[PostgresServer, str, dict[str, GunicornServer], NginxServer, Any],
) -> None:
    postgres, database_url, replicas, proxy, token = outage_topology
    for server in replicas.values():
        assert requests.get(server.url + "/ready", timeout=5).status_code == 200

    phase = {"name": "before"}
    results: list[tuple[str, int, list[str], float]] = []  # (phase, status, card uuids, seconds)
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                body = copy.deepcopy(HOOK)
                body["hookInstance"] = str(uuid.uuid4())
                started = time.monotonic()
                name = phase["name"]
                try:
                    answer = session.post(proxy.url + SERVICE_PATH, json=body, timeout=15,
                                          headers={"Authorization": f"Bearer {token()}"})  # fmt: skip
                    status = answer.status_code
                    cards = [c["uuid"] for c in answer.json().get("cards", [])] if status == 200 else []
                except requests.RequestException:
                    status, cards = -1, []
                with lock:
                    results.append((name, status, cards, time.monotonic() - started))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(BEFORE)
        phase["name"] = "outage"
        postgres.halt()
        outage_started = time.monotonic()
        time.sleep(1.0)
        # A worker restarts while the database is away (as after max-requests or a deploy): it must
        # boot and serve, and the rows it held are spooled for its replacement, not lost.
        victim = children(replicas["A"].process.pid)[0]
        os.kill(victim, signal.SIGTERM)
        ready_during = {
            name: requests.get(s.url + "/ready", timeout=5).status_code for name, s in replicas.items()
        }
        health_during = {
            name: requests.get(s.url + "/health", timeout=5).status_code for name, s in replicas.items()
        }
        time.sleep(max(OUTAGE - (time.monotonic() - outage_started), 0))
        buffered = {
            name: metric(requests.get(s.url + "/metrics", timeout=5).text, "cds_background_queue_depth")
            for name, s in replicas.items()
        }
        postgres.resume()
        resumed = time.monotonic()
        phase["name"] = "after"
        recovery: dict[str, float] = {}
        while len(recovery) < len(replicas) and time.monotonic() - resumed < 30:
            for name, server in replicas.items():
                if name not in recovery and requests.get(server.url + "/ready", timeout=5).status_code == 200:
                    recovery[name] = time.monotonic() - resumed
            time.sleep(0.1)
        time.sleep(AFTER)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        postgres.resume()

    deadline = time.monotonic() + 30
    while True:
        workers_a = children(replicas["A"].process.pid)
        replacement_alive = len(workers_a) == 2 and victim not in workers_a
        if replacement_alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    answered = {uuid_ for _p, status, cards, _s in results if status == 200 for uuid_ in cards}
    during = [r for r in results if r[0] == "outage"]
    fivexx = [r for r in results if r[1] >= 500]
    failed = [r for r in results if r[1] != 200]
    # All answered cards reach the database once it is back (nothing that got a 200 is lost).
    with Store(database_url) as store:
        deadline = time.monotonic() + 30
        while store.issued_card_count() < len(answered) and time.monotonic() < deadline:
            time.sleep(0.2)
        recorded = store.issued_card_count()
    texts = {name: requests.get(s.url + "/metrics", timeout=5).text for name, s in replicas.items()}
    dropped = sum(metric(t, "cds_background_rows_total", outcome="dropped") for t in texts.values())
    degraded = sum(metric(t, "cds_jti_degraded_total") for t in texts.values())
    slowest_outage = max((r[3] for r in during), default=0.0)
    print(
        f"\n[outage] {len(results)} hook calls ({CLIENTS} clients): {len(during)} during the "
        f"{OUTAGE:.0f} s outage, all 200: {all(r[1] == 200 for r in during)}; 5xx: {len(fivexx)}; "
        f"non-200: {len(failed)}; slowest call during the outage {slowest_outage * 1000:.0f} ms; "
        f"/ready during {ready_during}, /health during {health_during}; "
        f"recovery (/ready 200 after restart) {', '.join(f'{k}={v:.2f} s' for k, v in recovery.items())}; "
        f"rows buffered at end of outage {buffered}; dropped {dropped:.0f}; "
        f"jti checks in degraded mode {degraded:.0f}; cards answered {len(answered)}, recorded {recorded}; "
        f"worker restarted during the outage replaced: {replacement_alive}"
    )
    assert during and all(r[1] == 200 and r[2] for r in during), "a hook call failed during the outage"
    assert not failed, f"{len(failed)} calls were not 200"
    assert ready_during == {"A": 503, "B": 503}
    assert health_during == {"A": 200, "B": 200}
    assert replacement_alive, "the worker restarted during the outage was not replaced"
    assert all(server.alive() for server in replicas.values())
    assert set(recovery) == {"A", "B"} and max(recovery.values()) < 10
    assert sum(buffered.values()) > 0
    assert dropped == 0
    assert degraded > 0
    assert recorded == len(answered)
    assert "spooled for the next worker" in replicas["A"].log_text()  # the restarted worker's rows
