"""A server process freezes its start-up heap and raises the collector's thresholds (service/heap.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from spasticity_cds.heap import THRESHOLDS

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json
import spasticity_cds.wsgi
print(json.dumps({"frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()}))
"""


def test_importing_the_wsgi_app_settles_the_heap(tmp_path: Path) -> None:
    env = {"CDS_DATA_DIR": str(tmp_path), "CDS_LOG_LEVEL": "WARNING", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state["frozen"] > 10_000  # the knowledge base, Flask, the models: start-up's objects
    assert tuple(state["thresholds"]) == THRESHOLDS
