"""What the fuzz tests share: odd values a sloppy or hostile client sends, how one to three of them
are put into a real request or record, and the check every answer must pass.

The values come from what a scratch fuzzer of 640,000 requests found as 500s (lone surrogates in
ids, integers beyond 64 bits next to them, birth date 0001-00-01), so those classes stay covered.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask

from spasticity_cds.validation import validator

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


def mutate(body: dict[str, Any], rng: random.Random, numbers: list[Any] = NUMBERS) -> list[str]:
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


def poster(app: Flask) -> Callable[[dict[str, Any]], Any]:
    """POST a hook request to the service for its hook, as JSON with `ensure_ascii`: a lone
    surrogate travels as the escape "\\ud800", as a client would send it."""
    client = app.test_client()
    services = {s["hook"]: s["id"] for s in client.get("/cds-services").get_json()["services"]}

    def post(body: dict[str, Any]) -> Any:
        url = f"/cds-services/{services[body['hook']]}"
        return client.post(url, data=json.dumps(body), content_type="application/json")

    return post


_RESPONSE = validator("cds-response.schema.json")


def check_answer(response: Any, where: str) -> None:
    """Below 500, JSON, a schema-valid CDS response for a 200 and an OperationOutcome otherwise."""
    assert response.status_code < 500, f"{response.status_code} for {where}"
    payload = response.get_json(silent=True)
    assert isinstance(payload, dict), f"not JSON for {where}"
    if response.status_code == 200:
        errors = [e.message for e in _RESPONSE.iter_errors(payload)]
        assert not errors, f"{errors} for {where}"
    else:
        assert payload.get("resourceType") == "OperationOutcome", where
