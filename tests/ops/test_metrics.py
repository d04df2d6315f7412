"""The observe_* functions, label hygiene, and multiprocess exposition as gunicorn uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from spasticity_cds import metrics

from .conftest import REPO


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_observe_cards_counts_per_rule_and_indicator() -> None:
    labels = {"rule": "baclofen-renal-impairment", "indicator": "critical"}
    before = _value("cds_cards_issued_total", labels)
    card = {"indicator": "critical", "source": {"topic": {"code": "baclofen-renal-impairment"}}}
    metrics.observe_cards([card, card])
    assert _value("cds_cards_issued_total", labels) == before + 2


def test_observe_cards_tolerates_incomplete_cards() -> None:
    labels = {"rule": "unknown", "indicator": "info"}
    before = _value("cds_cards_issued_total", labels)
    metrics.observe_cards([{"indicator": "info"}, {"indicator": "info", "source": {"topic": None}}])
    assert _value("cds_cards_issued_total", labels) == before + 2


def test_observe_fetch() -> None:
    before = _value("cds_fhir_fetch_total", {"outcome": "timeout"})
    count = _value("cds_fhir_fetch_seconds_count")
    total = _value("cds_fhir_fetch_seconds_sum")
    metrics.observe_fetch("timeout", 3.0)
    assert _value("cds_fhir_fetch_total", {"outcome": "timeout"}) == before + 1
    assert _value("cds_fhir_fetch_seconds_count") == count + 1
    assert _value("cds_fhir_fetch_seconds_sum") == pytest.approx(total + 3.0)


def test_observe_feedback_counts_n_items() -> None:
    before = _value("cds_feedback_total", {"outcome": "overridden"})
    metrics.observe_feedback("overridden", n=3)
    metrics.observe_feedback("overridden")
    metrics.observe_feedback("overridden", n=0)
    assert _value("cds_feedback_total", {"outcome": "overridden"}) == before + 4


def test_labels_are_short_safe_tokens() -> None:
    metrics.observe_fetch('bad "label"\nwith {braces}' + "x" * 200, 0.1)
    outcomes = {
        sample.labels["outcome"]
        for metric in REGISTRY.collect()
        if metric.name == "cds_fhir_fetch"
        for sample in metric.samples
    }
    assert all(len(o) <= 64 and '"' not in o and "\n" not in o and " " not in o for o in outcomes)
    assert "bad__label__with__braces_" + "x" * 39 in outcomes


def test_multiprocess_exposition_merges_processes(tmp_path: Path) -> None:
    """Two processes write to one PROMETHEUS_MULTIPROC_DIR; one exposition shows their sum.

    prometheus-client picks its value storage when it is first imported, so each process is a
    fresh interpreter, as gunicorn workers are.
    """
    directory = tmp_path / "metrics"  # does not exist yet: service.metrics creates it
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(REPO)}
    writer = textwrap.dedent(
        """
        from spasticity_cds import metrics
        metrics.observe_request("/cds-services/<service_id>", 200, 0.2, service="spasticity-order-sign")
        metrics.observe_cards([{"indicator": "warning", "source": {"topic": {"code": "r1"}}}])
        metrics.observe_feedback("accepted", 2)
        metrics.observe_fetch("ok", 0.05)
        """
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", writer], env=env, check=True, cwd=tmp_path, timeout=60)
    assert len(list(directory.glob("*.db"))) >= 2

    reader = textwrap.dedent(
        """
        import json
        from prometheus_client.parser import text_string_to_metric_families
        from spasticity_cds import metrics
        body, content_type = metrics.exposition()
        samples = {
            s.name + json.dumps(s.labels, sort_keys=True): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples
        }
        print(json.dumps({"content_type": content_type, "samples": samples}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", reader],
        env=env,
        check=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    result = json.loads(done.stdout)
    samples = result["samples"]
    key = json.dumps(
        {"endpoint": "/cds-services/<service_id>", "service": "spasticity-order-sign", "status": "200"},
        sort_keys=True,
    )
    assert samples["cds_http_requests_total" + key] == 2
    assert samples["cds_http_request_duration_seconds_count" + key] == 2
    assert samples["cds_cards_issued_total" + json.dumps({"indicator": "warning", "rule": "r1"})] == 2
    assert samples["cds_feedback_total" + json.dumps({"outcome": "accepted"})] == 4
    assert samples["cds_fhir_fetch_total" + json.dumps({"outcome": "ok"})] == 2
    assert samples["cds_fhir_fetch_seconds_count{}"] == 2
    # per-process collectors are left out: they would describe only the answering worker
    assert not any(name.startswith(("process_", "python_gc")) for name in samples)
    assert result["content_type"].startswith("text/plain")
