"""`spasticity-cds serve` outside the image: two gunicorn workers, one truthful /metrics, one log
line per request, and no metrics files left behind.

Without a PROMETHEUS_MULTIPROC_DIR each worker keeps its own counters and a scrape shows whichever
worker answered; `serve` makes a temporary directory per run (TMPDIR is pointed at the test's
folder to find it) and gunicorn's `on_exit` removes it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.postgres import free_port

pytestmark = pytest.mark.slow


def _health_count(base: str) -> float:
    text = requests.get(f"{base}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "cds_http_requests_total" and sample.labels.get("endpoint") == "/health"
    )


def _pids_with_counters(tmp: Path) -> set[str]:
    return {p.stem.rsplit("_", 1)[-1] for p in tmp.glob("spasticity-cds-metrics-*/counter_*.db")}


def test_serve_aggregates_metrics_of_all_workers_and_logs_each_request_once(tmp_path: Path) -> None:
    tmp, log_path = tmp_path / "tmp", tmp_path / "serve.log"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "PROMETHEUS_MULTIPROC"))}
    env.update(TMPDIR=str(tmp), XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "spasticity_cds.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "2"]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()[-3000:]
            try:
                requests.get(f"{base}/ready", timeout=10)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.2)
        [metrics_dir] = list(tmp.glob("spasticity-cds-metrics-*"))

        # Send /health requests on fresh connections until both workers have answered some.
        sent = 0
        with ThreadPoolExecutor(max_workers=8) as pool:
            while len(_pids_with_counters(tmp)) < 2 or sent == 0:
                assert sent < 2000, "only one worker ever answered"
                statuses = list(pool.map(lambda _: requests.get(f"{base}/health", timeout=10).status_code,
                                         range(40)))  # fmt: skip
                assert set(statuses) == {200}
                sent += len(statuses)
        # Each scrape, whichever worker answers it, shows the requests of both workers.
        for _ in range(6):
            assert _health_count(base) == sent
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    assert not metrics_dir.exists(), "serve's temporary metrics directory was not removed"
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    health = [line for line in lines if line.get("path") == "/health"]
    assert len(health) == sent, f"{len(health)} log lines for {sent} requests"
    assert {line["logger"] for line in health} == {"spasticity_cds.access"}
