"""The benchmark still runs: requests are valid, the micro-benchmark works, one short wrk run works.

Fast (< 20 s): a few micro iterations per kind, and `run.py --quick` (kind a, one 1-second wrk run
against the service and the floor under gunicorn) when wrk is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH))

import make_requests  # noqa: E402
import micro  # noqa: E402


def test_committed_requests_are_what_the_generator_writes() -> None:
    built = make_requests.build()
    for kind, name in make_requests.NAMES.items():
        committed = json.loads((BENCH / "requests" / name).read_text(encoding="utf-8"))
        assert committed == built[kind], f"benchmarks/requests/{name} is stale: run make_requests.py"
    sizes = {k: make_requests.prefetch_size(r) for k, r in built.items()}
    assert sizes["a"] == sizes["b"] == 50
    assert sizes["d"] == 1000


def test_micro_benchmark_runs_every_kind_and_the_fallback() -> None:
    result = micro.run(iterations=3, fallback_iterations=1, kinds=list("abcd"))
    cards = {row["kind"]: row["cards"] for row in result["kinds"]}
    assert cards["a"] == 0
    assert cards["b"] >= 2  # benzodiazepine-spasticity and cns-depressant-combination
    assert all(row["total_ms"] > 0 for row in result["kinds"])
    fallback = result["fallback"]
    assert fallback["queries_per_call"] == 6  # + the Patient read (second set of rules)
    assert fallback["total_ms"] < 300  # serial fetching would be >= 6 x 50 ms


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_run_py_quick_prints_the_table() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--no-micro"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    row = next(line for line in out.stdout.splitlines() if line.startswith("a "))
    assert float(row.split("|")[-1]) > 0  # a ratio service / floor
