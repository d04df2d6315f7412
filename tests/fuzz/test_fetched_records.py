"""Records fetched from the EHR's FHIR server: the same answer as prefetch, and never a 5xx.

When the EHR sends no prefetch, the service queries `fhirServer` itself (service/prefetch.py) and
reads the answers with the standard-library JSON parse (service/fhirclient.py), which, unlike the
hook body's parse, lets NaN, Infinity, integers of any size and escaped lone surrogates through.
Every reader and every line of card text must cope with them.

The seeds are the golden requests (every rule, firing and silent, three FHIR versions) that carry a
prefetch. Each is sent without it, to a real HTTP FHIR server on loopback (tests/support/fhir_stub.py)
that answers every search from the prefetch it was given:

- unchanged, every answer must equal the golden response (card ids aside): a fetched record is read
  exactly as a prefetched one;
- with every display, text and date of the record carrying a lone surrogate, every answer must be
  a schema-valid 200 in which the character shows as U+FFFD (fuzzing of the fetched path found a
  500 when card text from a fetched date kept it);
- with one to three values mutated as tests/fuzz/mutations.py mutates requests, plus
  the numbers only a FHIR server can send (NaN, Infinity, integers beyond 64 bits), never a 5xx.
  `CDS_FUZZ_SEED` and `CDS_FUZZ_CASES` (default 300 here) vary it.
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

import pytest
from flask import Flask

from tests.fuzz.mutations import DATE_KEY, LONE, NUMBERS, check_answer, mutate, poster
from tests.support.fhir_stub import FhirStub, RecordedRequest, StubResponse

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("CDS_FUZZ_SEED", "7"))
CASES = int(os.environ.get("CDS_FUZZ_CASES", "300"))
# What a FHIR server's answer may hold that a hook body may not (the hook body's parse refuses them).
SERVER_NUMBERS = [*NUMBERS, float("nan"), float("inf"), float("-inf"), 10**30, -(10**40), 2**64]
SEARCHED = ("Condition", "MedicationRequest", "MedicationOrder", "MedicationStatement", "Observation")
ORDERS = {"MedicationRequest", "MedicationOrder", "MedicationStatement"}
SHOWN = re.compile(r"^(display|text)$")
AUTHORIZATION = {
    "access_token": "fetched-records-test-token",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "spasticity-cds",
}


def _golden() -> list[tuple[Path, dict[str, Any]]]:
    cases = []
    for path in sorted((REPO / "tests" / "golden").rglob("*.request.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(body.get("prefetch"), dict) and body["prefetch"]:
            cases.append((path, body))
    return cases


class RecordServer:
    """A FHIR server answering every search from one request's prefetch: a search of a resource
    type gets every prefetched resource of that type (with the Medications orders refer to), the
    patient read gets the prefetched Patient. The service filters by code and status itself, so
    answering a little more than the query asked for changes nothing."""

    def __init__(self, stub: FhirStub) -> None:
        self.stub = stub
        self.prefetch: dict[str, Any] = {}
        for resource_type in SEARCHED:
            stub.route(f"/{resource_type}", self._search)

    def serve(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body` without its prefetch, pointed at this server, which will answer from it."""
        self.prefetch = body.pop("prefetch")
        patient_id = body.get("context", {}).get("patientId")
        if isinstance(patient_id, str):
            self.stub.route(f"/Patient/{patient_id}", self._patient)
        body["fhirServer"], body["fhirAuthorization"] = self.stub.base_url, AUTHORIZATION
        return body

    def _patient(self, _request: RecordedRequest) -> StubResponse:
        patient = self.prefetch.get("patient")
        if patient is None:
            return StubResponse(status=404, body={"resourceType": "OperationOutcome", "issue": []})
        return StubResponse(body=json.dumps(patient))  # allow_nan: "NaN" as a server may send it

    def _search(self, request: RecordedRequest) -> StubResponse:
        wanted = request.path.strip("/").split("/")[0]
        entries = []
        for key, value in self.prefetch.items():
            found = value.get("entry") if key != "patient" and isinstance(value, dict) else None
            for entry in found if isinstance(found, list) else []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                kind = resource.get("resourceType") if isinstance(resource, dict) else None
                if kind == wanted or (kind == "Medication" and wanted in ORDERS):
                    entries.append(entry)
        return StubResponse(
            body=json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries})
        )


@pytest.fixture
def records() -> Iterator[RecordServer]:
    with FhirStub() as stub:
        yield RecordServer(stub)


@pytest.fixture
def post(make_app: Callable[..., Flask]) -> Callable[[dict[str, Any]], Any]:
    return poster(make_app(log_level="CRITICAL"))


def _without_ids(document: Any) -> str:
    return re.sub(r'"uuid": "[^"]*"', "", json.dumps(document, sort_keys=True))


def _strings(node: Any, key: str = "") -> Iterator[tuple[Any, Any, str]]:
    """(container, index or key, key name) of every string in `node`."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for at, child in items:
        name = at if isinstance(at, str) else key
        if isinstance(child, str):
            yield node, at, name
        else:
            yield from _strings(child, name)


def test_every_golden_case_fetched_gives_its_golden_answer(
    records: RecordServer, post: Callable[[dict[str, Any]], Any]
) -> None:
    cases = _golden()
    assert len(cases) > 300
    for path, body in cases:
        response = post(records.serve(body))
        name = path.relative_to(REPO)
        assert response.status_code == 200, f"{name}: {response.get_data(as_text=True)[:300]}"
        golden = json.loads(path.with_name(path.name.replace(".request.", ".response.")).read_text())
        assert _without_ids(response.get_json()) == _without_ids(golden), name
    assert records.stub.requests_to("/Condition"), "the records were fetched, not prefetched"


def test_lone_surrogates_in_every_shown_text_and_date_are_answered(
    records: RecordServer, post: Callable[[dict[str, Any]], Any]
) -> None:
    replaced = 0
    for path, body in _golden():
        if not path.name.startswith("fires-"):
            continue
        for container, at, key in list(_strings(body["prefetch"])):
            if SHOWN.match(key) or DATE_KEY.search(key):
                container[at] += LONE
        response = post(records.serve(body))
        assert response.status_code == 200, f"{path.name}: {response.get_data(as_text=True)[:300]}"
        check_answer(response, path.name)
        replaced += "\ufffd" in response.get_data(as_text=True)
    assert replaced > 20, "the character reached card text, as U+FFFD"


def test_mutated_fetched_records_never_get_a_server_error(
    records: RecordServer, post: Callable[[dict[str, Any]], Any]
) -> None:
    cases = _golden()
    rng = random.Random(SEED)
    statuses: Counter[int] = Counter()
    for case in range(CASES):
        path, seed = rng.choice(cases)
        body = json.loads(json.dumps(seed))
        changes = mutate(body["prefetch"], rng, SERVER_NUMBERS)
        response = post(records.serve(body))
        statuses[response.status_code] += 1
        check_answer(response, f"case {case} (CDS_FUZZ_SEED={SEED}) of {path.relative_to(REPO)}: {changes}")
    assert statuses[200] > CASES // 2, dict(statuses)
