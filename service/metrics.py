"""Prometheus metrics: what the service answered, which cards it issued, how the FHIR server behaved.

Other modules call the plain `observe_*` functions and never touch prometheus-client themselves,
so the metric names and labels live in one place.

Under gunicorn every worker is its own process. When `PROMETHEUS_MULTIPROC_DIR` is set (the
container image sets it), prometheus-client writes each worker's values to memory-mapped files in
that directory and `exposition()` merges them, so one scrape sees the whole instance and not
whichever worker happened to answer. The directory must exist and be emptied before the workers
start; `spasticity_cds.gunicorn_conf` does both, and `child_exit` there marks dead workers. Without the
variable the ordinary in-process registry is used (tests, `flask run`). `spasticity-cds serve`
outside the image makes a temporary directory per run, so its /metrics adds up all workers too.

Labels are bounded: endpoints are route templates, services and rules come from the knowledge
base, and free-form values are reduced to a short token so a caller cannot grow the series set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from .cardkeys import rule_id_of

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Set by `spasticity-cds serve` to the temporary multiprocess directory it made for one run;
# gunicorn's `on_exit` hook (spasticity_cds.gunicorn_conf) removes that directory, and only that one.
SERVE_METRICS_DIR_ENV = "SPASTICITY_CDS_SERVE_METRICS_DIR"

_TOKEN = re.compile(r"[^A-Za-z0-9_.:/<>-]")
_MAX_LABEL = 64


def multiproc_dir() -> str | None:
    """The multiprocess directory, or None in single-process mode."""
    return os.environ.get(MULTIPROC_ENV) or None


# prometheus-client opens one file per process and metric in the directory at the first
# observation and fails if the directory is missing; create it here so `flask run` with the
# variable set works as well as gunicorn (whose `on_starting` hook also creates and empties it).
if multiproc_dir():
    try:
        os.makedirs(multiproc_dir() or "", exist_ok=True)
    except OSError:  # read-only path: the first observation will report it clearly
        pass


# HTTP latency: CDS Hooks clients usually give up after a few seconds, so resolution matters
# below 1 s and around the FHIR deadline (CDS_FHIR_TIMEOUT, 3 s by default).
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
_FETCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)

HTTP_REQUESTS = Counter(
    "cds_http_requests",
    "HTTP requests answered, by route template, CDS service id (empty when none) and status",
    ["endpoint", "service", "status"],
)
HTTP_LATENCY = Histogram(
    "cds_http_request_duration_seconds",
    "Time from receiving a request to handing back its response, in seconds",
    ["endpoint", "service", "status"],
    buckets=_HTTP_BUCKETS,
)
CARDS_ISSUED = Counter(
    "cds_cards_issued",
    "CDS cards returned to clients, by rule id and indicator (info, warning, critical)",
    ["rule", "indicator"],
)
FHIR_FETCHES = Counter(
    "cds_fhir_fetch",
    "Queries sent to a FHIR server for data that was not prefetched, by outcome",
    ["outcome"],
)
FHIR_FETCH_SECONDS = Histogram(
    "cds_fhir_fetch_seconds",
    "Duration of one FHIR server query (all its pages), in seconds",
    buckets=_FETCH_BUCKETS,
)
CARDS_HELD = Counter(
    "cds_cards_held",
    "Findings of `status: experimental` rules: evaluated but not shown to the clinician, by rule id",
    ["rule"],
)
CARDS_HELD_BACK = Counter(
    "cds_cards_held_back",
    "Cards not shown because the clinician already overrode them for the same draft order, by rule id",
    ["rule"],
)
FEEDBACK = Counter(
    "cds_feedback",
    "Feedback items received (CDS Hooks feedback endpoint), by outcome",
    ["outcome"],
)

WRITER_ROWS = Counter(
    "cds_background_rows",
    "Rows handed to the background writer (issued cards, JWT ids), by table and what became of "
    "them: queued (buffered), written, dropped (queue full while the database was away)",
    ["table", "outcome"],
)
WRITER_FAILED_BATCHES = Counter(
    "cds_background_write_failures",
    "Background write batches that failed (database unreachable); their rows stay queued",
)
WRITER_QUEUE_DEPTH = Gauge(
    "cds_background_queue_depth",
    "Rows waiting in the background writer's queue (summed over live worker processes)",
    multiprocess_mode="livesum",
)
JTI_DEGRADED = Counter(
    "cds_jti_degraded",
    "JWT ids checked only against this process's replay cache because the shared store was unreachable",
)
FEEDBACK_UNAVAILABLE = Counter(
    "cds_feedback_unavailable",
    "Feedback posts answered 503 because the database was unreachable",
)
FOREIGN_PATIENT_RESOURCES = Counter(
    "cds_foreign_patient_resources",
    "Resources ignored because their subject/patient names another patient than context.patientId, "
    "by origin (prefetch, fhir-server)",
    ["origin"],
)
OPTIONAL_DATA_MISSING = Counter(
    "cds_optional_data_missing",
    "Optional prefetch keys (cards/services.yaml optional_data) a request went on without, by key",
    ["key"],
)
BLOCKED_FHIR_SERVERS = Counter(
    "cds_fhir_server_blocked",
    "Requests whose fhirServer was outside the allowlist (CDS_FHIR_SERVERS or the issuer's) and so "
    "never contacted",
)

METRIC_NAMES = (
    "cds_http_requests_total",
    "cds_http_request_duration_seconds",
    "cds_cards_issued_total",
    "cds_cards_held_total",
    "cds_fhir_fetch_total",
    "cds_fhir_fetch_seconds",
    "cds_feedback_total",
    "cds_background_rows_total",
    "cds_background_write_failures_total",
    "cds_background_queue_depth",
    "cds_jti_degraded_total",
    "cds_feedback_unavailable_total",
    "cds_foreign_patient_resources_total",
    "cds_optional_data_missing_total",
    "cds_fhir_server_blocked_total",
    "cds_cards_held_back_total",
)


def _label(value: Any, default: str = "unknown") -> str:
    """A short, safe label value: anything outside [A-Za-z0-9_.:/<>-] becomes `_`."""
    if value is None:
        return default
    text = _TOKEN.sub("_", str(value))[:_MAX_LABEL]
    return text or default


def observe_request(endpoint: str, status: int, seconds: float, *, service: str = "") -> None:
    """One answered HTTP request. `endpoint` must be a route template (bounded), not a raw path."""
    labels = (_label(endpoint), _label(service, ""), str(int(status)))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_LATENCY.labels(*labels).observe(max(seconds, 0.0))


def observe_cards(cards: Iterable[Mapping[str, Any]]) -> None:
    """Cards about to be returned, counted by rule id (`service.cardkeys.rule_id_of`) and indicator."""
    for card in cards:
        rule = rule_id_of(card) if isinstance(card, Mapping) else None
        indicator = card.get("indicator") if isinstance(card, Mapping) else None
        CARDS_ISSUED.labels(_label(rule), _label(indicator)).inc()


def observe_held(rule_ids: Iterable[str]) -> None:
    """Findings of experimental rules that were held back instead of shown (one per rule id)."""
    for rule in rule_ids:
        CARDS_HELD.labels(_label(rule)).inc()


def observe_held_back(counts: Mapping[str, int]) -> None:
    """Cards held back in one response, by rule id (service/repeats.py)."""
    for rule, count in counts.items():
        CARDS_HELD_BACK.labels(_label(rule)).inc(count)


def observe_fetch(outcome: str, seconds: float) -> None:
    """One FHIR server query; `outcome` is a short word such as ok, error, timeout, too-large."""
    FHIR_FETCHES.labels(_label(outcome)).inc()
    FHIR_FETCH_SECONDS.observe(max(seconds, 0.0))


def observe_feedback(outcome: str, n: int = 1) -> None:
    """`n` feedback items with the same outcome (accepted, overridden, rejected ...)."""
    if n > 0:
        FEEDBACK.labels(_label(outcome)).inc(n)


def observe_writer(
    table: str,
    *,
    queued: int = 0,
    written: int = 0,
    dropped: int = 0,
    failed: int = 0,
    depth: int | None = None,
) -> None:
    """What the background writer did with rows of `table` (a table name from the code)."""
    label = _label(table)
    for outcome, n in (("queued", queued), ("written", written), ("dropped", dropped)):
        if n > 0:
            WRITER_ROWS.labels(label, outcome).inc(n)
    if failed > 0:
        WRITER_FAILED_BATCHES.inc(failed)
    if depth is not None:
        WRITER_QUEUE_DEPTH.set(depth)


def observe_jti_degraded() -> None:
    JTI_DEGRADED.inc()


def observe_feedback_unavailable() -> None:
    FEEDBACK_UNAVAILABLE.inc()


def observe_foreign_patient(origin: str, n: int = 1) -> None:
    if n > 0:
        FOREIGN_PATIENT_RESOURCES.labels(_label(origin)).inc(n)


def observe_optional_missing(key: str) -> None:
    OPTIONAL_DATA_MISSING.labels(_label(key)).inc()


def observe_blocked_fhir_server() -> None:
    BLOCKED_FHIR_SERVERS.inc()


def exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition of all metrics and its content type.

    In multiprocess mode a fresh registry reads every worker's files; the default registry's
    process and platform collectors would only describe the one worker answering, so they are
    left out there.
    """
    directory = multiproc_dir()
    if directory:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Called by gunicorn's `child_exit` hook: drop a dead worker's live-gauge files."""
    directory = multiproc_dir()
    if directory:
        _multiprocess.mark_process_dead(pid, path=directory)
