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
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from tests.fuzz.mutations import check_answer, mutate, poster

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("CDS_FUZZ_SEED", "7"))
CASES = int(os.environ.get("CDS_FUZZ_CASES", "1500"))


def _seeds() -> list[tuple[str, dict[str, Any]]]:
    paths = sorted((REPO / "tests" / "golden").rglob("*.request.json"))
    paths += sorted((REPO / "tests" / "fixtures" / "sandbox").glob("*.json"))
    seeds = []
    for path in paths:
        body = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(body, dict) and isinstance(body.get("hook"), str):
            seeds.append((str(path.relative_to(REPO)), body))
    return seeds


def test_mutated_real_requests_never_get_a_server_error(make_app: Callable[..., Flask]) -> None:
    post = poster(make_app(log_level="CRITICAL"))
    seeds = _seeds()
    assert len(seeds) > 300
    rng = random.Random(SEED)
    statuses: Counter[int] = Counter()
    for case in range(CASES):
        name, seed = rng.choice(seeds)
        body = json.loads(json.dumps(seed))
        changes = mutate(body, rng)
        response = post(body)
        statuses[response.status_code] += 1
        check_answer(response, f"case {case} (CDS_FUZZ_SEED={SEED}) of {name}: {changes}")
    print(f"\nmutated requests: {CASES} cases, statuses {dict(statuses)}")
    assert statuses[200] > CASES // 4, "most cases should still reach the rules"
