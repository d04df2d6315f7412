"""Run every regression patient through `order-sign` and compare the cards with the oracle.

Used by test_synthea.py (asserts) and write_results.py (RESULTS.md). One run: for each patient of
each FHIR version, the service's own prefetch templates (GET /cds-services) are executed against
the patient's record (fhir_search.PatientServer), and each of the five drafts is signed with that
prefetch and no FHIR server, at the moment of the patient's last visit (the app's clock).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing
import os
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from spasticity_cds import create_app
from spasticity_cds.config import Config

from . import oracle
from .drafts import DRUGS, build_draft, regimen_for
from .fhir_search import PatientServer, fill_template

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
VERSIONS = {"R4": "r4", "STU3": "stu3", "DSTU2": "dstu2"}
SERVICE_ID = "spasticity-order-sign"
USER = "Practitioner/regression"


@dataclass(frozen=True)
class Row:
    version: str
    source: str
    as_of: datetime
    entries: list[dict]


def load_rows(version: str) -> Iterator[Row]:
    with gzip.open(DATA / f"{VERSIONS[version]}.ndjson.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            data = json.loads(line)
            as_of = datetime.fromisoformat(data["asOf"].replace("Z", "+00:00")).astimezone(UTC)
            yield Row(version, data["source"], as_of, data["entries"])


@dataclass(frozen=True)
class Outcome:
    version: str
    patient: str
    source: str
    drug: str
    regimen: str
    status: int
    expected: frozenset[str]
    got: frozenset[str]
    error: str | None = None
    facts: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    indicators: dict[str, list[str]] = field(default_factory=dict, compare=False, hash=False)  # rule -> cards


@dataclass(frozen=True)
class Disagreement:
    rule: str
    kind: str  # "missed" | "false"
    reason: str
    blame: str
    version: str | None = None
    drug: str | None = None
    patient: str | None = None
    person: str | None = None  # the record's file name (one synthetic person, in STU3 and DSTU2)
    regimen: str | None = None
    active_class: str | None = None  # a class the oracle found among the active medications

    def covers(self, o: Outcome, rule: str, kind: str) -> bool:
        return (
            rule == self.rule
            and kind == self.kind
            and self.version in (None, o.version)
            and self.drug in (None, o.drug)
            and self.patient in (None, o.patient)
            and self.person in (None, Path(o.source).name)
            and self.regimen in (None, o.regimen)
            and (self.active_class is None or self.active_class in o.facts.get("active_classes", ()))
        )


def load_disagreements() -> list[Disagreement]:
    data = yaml.safe_load((HERE / "known_disagreements.yaml").read_text(encoding="utf-8")) or {}
    items = data.get("disagreements") or []
    out = []
    for item in items:
        if not str(item.get("reason", "")).strip() or item.get("kind") not in ("missed", "false"):
            raise ValueError(f"known disagreement needs kind missed|false and a clinical reason: {item}")
        out.append(Disagreement(**item))
    return out


@dataclass
class Run:
    outcomes: list[Outcome]
    cases: dict[str, dict[str, int]]
    patients: dict[str, int]
    seconds: float
    templates: dict[str, str]
    cpu_seconds: float = 0.0


class Clock:
    """The app's clock, moved to each patient's last visit before their drafts are signed."""

    def __init__(self) -> None:
        self.now = datetime(2000, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _uuid_factory() -> Any:
    counter = iter(range(1, 10**9))
    return lambda: f"00000000-0000-4000-8000-{next(counter):012d}"


def case_counts(row: Row, server: PatientServer) -> set[str]:
    """Which of the cases issue 10 names this record holds."""
    cases: set[str] = set()
    for r in server.resources:
        kind = r["resourceType"]
        codings = (r.get("code") or {}).get("coding") or []
        text = " ".join(str(c.get("display") or "") for c in codings).lower()
        if kind == "Observation" and any(c.get("code") == "33914-3" for c in codings):
            cases.add("eGFR as LOINC 33914-3")
            value = (r.get("valueQuantity") or {}).get("value")
            if isinstance(value, int | float) and 5 <= value < 30:
                cases.add("eGFR 5-29 (33914-3, any date)")
        if kind == "Observation" and re.search(r"creatinine (renal )?clearance", text):
            cases.add("creatinine clearance result")
        if (
            kind in ("MedicationRequest", "MedicationOrder", "MedicationStatement")
            and "medicationReference" in r
        ):
            cases.add("medicationReference")
            if r.get("status") in ("active", "on-hold"):
                cases.add("active medicationReference")
        if kind == "Condition":
            if "brain damage - traumatic" in text:
                cases.add("Brain damage - traumatic")
            if "concussion" in text:
                cases.add("concussion")
            if "chronic paralysis due to lesion of spinal cord" in text:
                cases.add("Chronic paralysis due to lesion of spinal cord")
            if "kidney" in text or "renal" in text:
                cases.add("CKD / renal disease (any stage)")
            if "end stage renal" in text:
                cases.add("end stage renal disease")
            if "stroke" in text:
                cases.add("stroke")
    return cases


class Worker:
    """One app and its client; the drafts of a shard of patients are signed through it."""

    def __init__(self, data_dir: str) -> None:
        self.clock = Clock()
        app = create_app(
            Config(data_dir=data_dir, database_url="sqlite://", log_level="WARNING"),
            uuid_factory=_uuid_factory(),
            clock=self.clock,
        )
        self.client = app.test_client()
        discovery = self.client.get("/cds-services")
        assert discovery.status_code == 200, discovery.data
        service = next(s for s in discovery.get_json()["services"] if s["id"] == SERVICE_ID)
        self.templates: dict[str, str] = service.get("prefetch") or {}
        assert self.templates, "the order-sign service announces no prefetch templates"

    def shard(self, version: str, index: int, shards: int) -> tuple[list[Outcome], Counter[str], int]:
        outcomes: list[Outcome] = []
        cases: Counter[str] = Counter()
        patients = 0
        for n, row in enumerate(load_rows(version)):
            if n % shards == index:
                outcomes.extend(_run_patient(self.client, self.clock, self.templates, row, cases))
                patients += 1
        return outcomes, cases, patients


_WORKER: Worker | None = None


def _init_worker(data_dir: str) -> None:
    global _WORKER
    _WORKER = Worker(data_dir)


def _run_shard(
    task: tuple[str, int, int],
) -> tuple[str, list[Outcome], Counter[str], int, dict[str, str], float]:
    """One shard's results, with the CPU seconds its process spent on it (all threads): workers
    come from a forkserver, so their time never reaches this process's `children_*` times."""
    assert _WORKER is not None
    cpu = time.process_time()
    outcomes, cases, patients = _WORKER.shard(*task)
    return task[0], outcomes, cases, patients, _WORKER.templates, time.process_time() - cpu


def run(versions: tuple[str, ...] = ("R4", "STU3", "DSTU2"), workers: int | None = None) -> Run:
    """All patients of `versions`. `workers` processes (default: 2, the machine's cores, or the
    CPUs this process may use if fewer) each build their own app; 1 runs in this process."""
    started = time.perf_counter()
    if workers is None:
        workers = max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))
    tasks = [(v, i, workers) for v in versions for i in range(workers)]
    cases: dict[str, Counter[str]] = {v: Counter() for v in versions}
    patients: Counter[str] = Counter()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        if workers == 1:
            _init_worker(tmp)
            results = [_run_shard(t) for t in tasks]
        else:
            # forkserver: workers start from a clean process, never from a test process whose other
            # threads (background writers, thread pools) may hold a lock at the moment of a fork.
            context = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=_init_worker, initargs=(tmp,)
            ) as pool:
                results = list(pool.map(_run_shard, tasks))
    templates = results[0][4]
    assert all(r[4] == templates for r in results), "workers saw different prefetch templates"
    for version, shard_outcomes, shard_cases, n, _, _ in results:
        outcomes.extend(shard_outcomes)
        cases[version].update(shard_cases)
        patients[version] += n
    return Run(
        outcomes,
        {v: dict(c) for v, c in cases.items()},
        dict(patients),
        time.perf_counter() - started,
        templates,
        sum(r[5] for r in results),  # CPU time: wall time depends on the machine's load
    )


def _run_patient(
    client: Any, clock: Clock, templates: dict[str, str], row: Row, cases: Counter[str]
) -> list[Outcome]:
    server = PatientServer(row.entries, row.version)
    pid = server.patient_id
    cases.update(case_counts(row, server))
    context = {"patientId": pid, "userId": USER}
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        answer = server.execute(fill_template(template, context))
        if answer is not None:
            prefetch[key] = answer
    clock.now = row.as_of
    person = Path(row.source).name  # the same synthetic person in STU3 and DSTU2 gets the same drafts
    prefetch_json = json.dumps(prefetch)
    out = []
    for i, drug in enumerate(DRUGS):
        regimen = regimen_for(person, drug)
        use_reference = row.version == "STU3" and hashlib.sha256(pid.encode()).digest()[1] % 2 == 0
        draft = build_draft(
            regimen,
            row.version,
            patient_id=pid,
            authored=row.as_of.isoformat(),
            draft_id=f"draft-{i + 1}",
            use_reference=use_reference,
        )
        request = {
            "hook": "order-sign",
            "hookInstance": str(
                uuid.UUID(bytes=hashlib.sha256(f"{pid}:{drug}".encode()).digest()[:16], version=4)
            ),
            "context": {
                "userId": USER,
                "patientId": pid,
                "draftOrders": {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [{"resource": draft}],
                },
            },
        }
        # The prefetch is the bulk of the body and the same for the five drafts: encoded once.
        body = json.dumps(request)[:-1] + ',"prefetch":' + prefetch_json + "}"
        expected = oracle.expect(server.resources, regimen, row.as_of)
        response = client.post(f"/cds-services/{SERVICE_ID}", data=body, content_type="application/json")
        error = None
        got: frozenset[str] = frozenset()
        indicators: dict[str, list[str]] = {}
        if response.status_code != 200:
            error = response.get_data(as_text=True)[:500]
        else:
            body = response.get_json()
            for card in body.get("cards", []):
                indicators.setdefault(card["source"]["topic"]["code"], []).append(card.get("indicator"))
            got = frozenset(indicators)
        out.append(
            Outcome(
                row.version,
                pid,
                row.source,
                drug,
                regimen.key,
                response.status_code,
                frozenset(expected.rules),
                got,
                error,
                expected.facts,
                indicators,
            )
        )
    return out


@dataclass
class Comparison:
    table: dict[str, Counter[str]]  # rule -> fires / silent / missed / false / known
    errors: list[Outcome]
    unexplained: list[tuple[str, str, Outcome]]  # (rule, kind, outcome)
    explained: list[tuple[str, str, Outcome, Disagreement]]
    unused: list[Disagreement]
    wrong_cards: list[str]  # a rule's card given twice for one new order, or at the wrong indicator


def compare(result: Run, known: list[Disagreement]) -> Comparison:
    table: dict[str, Counter[str]] = {rule: Counter() for rule in oracle.RULES}
    errors, unexplained, explained, wrong = [], [], [], []
    used: set[int] = set()
    for o in result.outcomes:
        if o.status != 200:
            errors.append(o)
            continue
        for rule in sorted(set(oracle.RULES) | o.got | o.expected):
            counts = table.setdefault(rule, Counter())
            if rule in o.expected and rule in o.got:
                counts["fires"] += 1
                want = oracle.indicator(rule, o.facts)
                if o.indicators[rule] != [want]:
                    wrong.append(
                        f"{rule}: {o.indicators[rule]}, expected [{want!r}] "
                        f"({o.version} {o.source} {o.regimen})"
                    )
            elif rule not in o.expected and rule not in o.got:
                counts["silent"] += 1
            else:
                kind = "missed" if rule in o.expected else "false"
                counts[kind] += 1
                match = next((i for i, d in enumerate(known) if d.covers(o, rule, kind)), None)
                if match is None:
                    unexplained.append((rule, kind, o))
                else:
                    used.add(match)
                    counts["known"] += 1
                    explained.append((rule, kind, o, known[match]))
    unused = [d for i, d in enumerate(known) if i not in used]
    return Comparison(table, errors, unexplained, explained, unused, wrong)


def format_table(comparison: Comparison) -> str:
    lines = [
        f"| {'rule':<36} | fires | silent | missed | false | of which listed |",
        f"|{'-' * 38}|-------|--------|--------|-------|-----------------|",
    ]
    for rule, c in comparison.table.items():
        lines.append(
            f"| {rule:<36} | {c['fires']:>5} | {c['silent']:>6} | {c['missed']:>6} | {c['false']:>5} |"
            f" {c['known']:>15} |"
        )
    return "\n".join(lines)


def format_patients_per_rule(result: Run, rules: tuple[str, ...]) -> str:
    """Patients (per FHIR version) for whom the oracle expects a rule, and for whom the service
    gave it: how much of the data a rule touches (a rule fires at most once per patient and draft)."""
    versions = sorted({o.version for o in result.outcomes}, key=list(VERSIONS).index)
    expected: dict[tuple[str, str], set[str]] = {}
    got: dict[tuple[str, str], set[str]] = {}
    drafts: dict[str, set[str]] = {}
    for o in result.outcomes:
        for rule in o.expected:
            expected.setdefault((rule, o.version), set()).add(o.patient)
            drafts.setdefault(rule, set()).add(o.drug)
        for rule in o.got:
            got.setdefault((rule, o.version), set()).add(o.patient)
            drafts.setdefault(rule, set()).add(o.drug)
    head = " | ".join(f"{v} expected / given" for v in versions)
    lines = [f"| rule | drafts | {head} |", "|---|---|" + "---|" * len(versions)]
    for rule in rules:
        cells = " | ".join(
            f"{len(expected.get((rule, v), ()))} / {len(got.get((rule, v), ()))}" for v in versions
        )
        lines.append(f"| {rule} | {', '.join(sorted(drafts.get(rule, ()))) or '-'} | {cells} |")
    return "\n".join(lines)


def format_cases(result: Run) -> str:
    names = sorted({n for c in result.cases.values() for n in c})
    versions = list(result.cases)
    lines = ["| case (patients) | " + " | ".join(versions) + " |", "|---|" + "---|" * len(versions)]
    lines.append("| patients | " + " | ".join(str(result.patients.get(v, 0)) for v in versions) + " |")
    for n in names:
        lines.append(f"| {n} | " + " | ".join(str(result.cases[v].get(n, 0)) for v in versions) + " |")
    return "\n".join(lines)
