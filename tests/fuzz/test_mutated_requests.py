"""Real requests, mutated: whatever a sloppy or hostile client changes in them, never a 5xx.

The golden requests (every rule, firing and silent, three FHIR versions) and the CDS Hooks
sandbox's captured calls are the seeds. Each case changes one to three values of one seed: a date
that is not a date, a number beyond a double or beyond 64 bits, a unit, code, system or reference
no one expects, an escaped lone surrogate in a string, a deleted key, a value of the wrong type. The
values come from what a scratch fuzzer of 640,000 such requests found as 500s (lone surrogates in
ids, integers beyond 64 bits next to them, birth date 0001-00-01), so those classes stay covered.

Checks on every answer: below 500, JSON, a schema-valid CDS response for a 200 and an
OperationOutcome otherwise. Deterministic: `CDS_FUZZ_SEED` (default 7) and `CDS_FUZZ_CASES`
(default 1,500, about 10 s) pick the cases; raise the count for a longer hunt. A failure names the
seed file, the case number and what was changed.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flask import Flask

from spasticity_cds.validation import validator

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("CDS_FUZZ_SEED", "7"))
CASES = int(os.environ.get("CDS_FUZZ_CASES", "1500"))

LONE = "\ud800"
DATES: list[Any] = [
    "0001-00-01", "0001-00", "0000-01-01", "1950-13-01", "2026-02-30", "9999-12-31", "0001-01-01",
    "2026-11-21T25:00:00Z", "2026-11-21T13:49:48+99:99", "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00", "２０２６-11-21", "2026-W47", "", "now", 20261121, None, LONE,
]  # fmt: skip
NUMBERS: list[Any] = [
    0, -1, -0.0, 1e308, -1e308, 5e-324, 10**30, -(10**30), 2**63, 2**64 - 1, 2**64, 9007199254740993,
    "10", "1e999", "NaN", "10 mg", "1,5", "٣", "", None, True, [], {}, [10], {"value": 10},
]  # fmt: skip
WORDS: list[Any] = [
    "mg", "ug", "µg", "mcg", "mg/kg", "{tbl}", "wk", "mo", "a", "s", "h", "MG", "", " ", "x" * 3000,
    "http://www.nlm.nih.gov/research/umls/rxnorm/", "HTTP://LOINC.ORG", "urn:oid:2.16.840.1.113883.6.88",
    "1292", " 1292 ", "١٢٩٢", "1742-6", "Medication/", "#", "#med", "Patient/../x", "Patient/%2e%2e",
    "urn:uuid:", "Group/1", "stopped", "entered-in-error", "on-hold", "unknown", "draft", "active",
    LONE, f"Baclofen {LONE}", "a\x00b", "a\u2028b", "<img src=x>", "# heading", None, 0, [], {},
]  # fmt: skip
DATE_KEY = re.compile(
    r"date|On$|start|end|issued|birth|Timestamp|effective|onset|abatement|recorded|asserted|written", re.I
)
NUMBER_KEYS = {
    "value",
    "frequency",
    "frequencyMax",
    "period",
    "periodMax",
    "count",
    "duration",
    "low",
    "high",
}


def _seeds() -> list[tuple[str, dict[str, Any]]]:
    paths = sorted((REPO / "tests" / "golden").rglob("*.request.json"))
    paths += sorted((REPO / "tests" / "fixtures" / "sandbox").glob("*.json"))
    seeds = []
    for path in paths:
        body = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(body, dict) and isinstance(body.get("hook"), str):
            seeds.append((str(path.relative_to(REPO)), body))
    return seeds


def _paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place a value sits in `node`, parents before children."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield (*at, key)
            yield from _paths(child, (*at, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield (*at, index)
            yield from _paths(child, (*at, index))


def _mutate(body: dict[str, Any], rng: random.Random, numbers: list[Any] = NUMBERS) -> list[str]:
    """Change one to three values of `body` in place; what was done, for the failure message.
    `numbers` are the odd numbers to choose from (a FHIR server's answer may hold more of them)."""
    done = []
    for _ in range(rng.randint(1, 3)):
        places = [p for p in _paths(body) if p[0] != "hook"]
        if not places:
            break
        place = rng.choice(places)
        *parents, last = place
        parent: Any = body
        for part in parents:
            parent = parent[part]
        old, key = parent[last], next((p for p in reversed(place) if isinstance(p, str)), "")
        roll = rng.random()
        if roll < 0.15 and isinstance(parent, dict):
            del parent[last]
            done.append(f"delete {place}")
            continue
        if roll < 0.35 and isinstance(old, str):
            cut = rng.randint(0, len(old))
            new: Any = old[:cut] + LONE + old[cut:]
        elif DATE_KEY.search(key) or (isinstance(old, str) and re.match(r"^\d{4}-", old)):
            new = rng.choice(DATES)
        elif key in NUMBER_KEYS or isinstance(old, int | float):
            new = rng.choice(numbers)
        else:
            new = rng.choice(WORDS + numbers[:6])
        parent[last] = new
        done.append(f"{place} = {new!r:.60}")
    return done


def test_mutated_real_requests_never_get_a_server_error(make_app: Callable[..., Flask]) -> None:
    client = make_app(log_level="CRITICAL").test_client()
    services = {s["hook"]: s["id"] for s in client.get("/cds-services").get_json()["services"]}
    response_schema = validator("cds-response.schema.json")
    seeds = _seeds()
    assert len(seeds) > 300
    rng = random.Random(SEED)
    statuses: Counter[int] = Counter()
    for case in range(CASES):
        name, seed = rng.choice(seeds)
        body = json.loads(json.dumps(seed))
        changes = _mutate(body, rng)
        raw = json.dumps(body)  # ensure_ascii: a lone surrogate travels as the escape "\ud800"
        hook = seed["hook"]
        response = client.post(f"/cds-services/{services[hook]}", data=raw, content_type="application/json")
        where = f"case {case} (CDS_FUZZ_SEED={SEED}) of {name}: {changes}"
        statuses[response.status_code] += 1
        assert response.status_code < 500, f"{response.status_code} for {where}"
        payload = response.get_json(silent=True)
        assert isinstance(payload, dict), f"not JSON for {where}"
        if response.status_code == 200:
            errors = [e.message for e in response_schema.iter_errors(payload)]
            assert not errors, f"{errors} for {where}"
        else:
            assert payload.get("resourceType") == "OperationOutcome", where
    print(f"\nmutated requests: {CASES} cases, statuses {dict(statuses)}")
    assert statuses[200] > CASES // 4, "most cases should still reach the rules"
