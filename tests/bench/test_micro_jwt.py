"""benchmarks/micro_jwt.py runs and measures what it says: every stage, both algorithms, real store."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import micro_jwt  # noqa: E402


def test_micro_jwt_measures_every_stage_of_both_algorithms() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        result = micro_jwt.bench(["RS384", "ES384"], 20, data_dir)
    assert set(result["algorithms"]) == {"RS384", "ES384"}
    for row in result["algorithms"].values():
        assert row["verify_cpu_us"] > 0 and row["verify_wall_us"] > 0
        assert set(row["stages_cpu_us"]) == {
            "header",
            "issuer",
            "key",
            "signature+claims",
            "audience",
            "claim_jti",
        }
        assert row["claim_jti_cpu_us"] > 0
    assert "RS384: verify" in micro_jwt.format_report(result)
