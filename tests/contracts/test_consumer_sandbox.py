"""Consumer "cds-hooks-sandbox": the CDS Hooks sandbox's real traffic (tests/fixtures/sandbox).

Each interaction is the sandbox's own request (key order, loose R4 shapes, no `type` on the draft
Bundle) and what the sandbox relies on in the answer. The test plays the sandbox against pact's
mock server and writes tests/contracts/pacts/cds-hooks-sandbox-spasticity-cds.json (spec V4),
which tests/contracts/test_provider.py verifies against the real service.
"""

from __future__ import annotations

from typing import Any

import requests
from pact import Pact, match

from .common import (
    JSON_HEADERS,
    NO_CARDS,
    PACT_DIR,
    PROVIDER,
    REQUESTS,
    feedback_request,
    hook_request,
    load,
    sandbox_request,
)

CONSUMER = "cds-hooks-sandbox"
SELECT = "/cds-services/spasticity-order-select"
SIGN = "/cds-services/spasticity-order-sign"
ALS_STATE = "the FHIR server has patient pat-als-1 with ALS and spasticity, no medications and no labs"
EMPTY = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}


def _sign_with_complete_prefetch() -> dict[str, Any]:
    """The sandbox's order-sign, with the prefetch keys this service announces at discovery.

    The recorded call went to an echo service whose template was named `meds`; the sandbox fills
    whatever keys discovery announces, so against this service the same data arrives as
    `medicationRequests` (plus the other announced searches, empty). `fhirServer` stays the
    recorded one, which nothing serves during verification: the answer must come from prefetch.
    """
    body = sandbox_request("order-sign-baclofen-with-prefetch.json")
    prefetch = body["prefetch"]
    prefetch["medicationRequests"] = prefetch.pop("meds")
    for key in ("medicationStatements", "liverLabs", "renalLabs"):
        prefetch[key] = dict(EMPTY)
    return body


def _define(pact: Pact) -> list[tuple[str, str, dict[str, Any] | None, int, Any]]:
    """Register the interactions; return what the sandbox sends in each: (method, path, body, ...)."""
    calls: list[tuple[str, str, dict[str, Any] | None, int, Any]] = []

    first = sandbox_request("order-select-first-call-no-drug.json")
    (
        pact.upon_receiving("the first order-select of Rx View, before a drug is chosen")
        .with_request("POST", SELECT)
        .with_headers(JSON_HEADERS)
        .with_body(hook_request(first), content_type="application/json")
        .will_respond_with(200)
        .with_header("Content-Type", "application/json")
        .with_body(NO_CARDS, content_type="application/json")
    )
    calls.append(("POST", SELECT, first, 200, NO_CARDS))

    lioresal = sandbox_request("order-select-baclofen-lioresal.json")
    (
        pact.upon_receiving("an order-select with a baclofen (Lioresal) 10 mg daily draft, no prefetch")
        .given(ALS_STATE)
        .with_request("POST", SELECT)
        .with_headers(JSON_HEADERS)
        .with_body(hook_request(lioresal, fhir_from_state=True), content_type="application/json")
        .will_respond_with(200)
        .with_header("Content-Type", "application/json")
        .with_body(NO_CARDS, content_type="application/json")
    )
    calls.append(("POST", SELECT, lioresal, 200, NO_CARDS))

    sign = _sign_with_complete_prefetch()
    (
        pact.upon_receiving("an order-sign of baclofen (Lioresal) 10 mg daily with complete prefetch")
        .with_request("POST", SIGN)
        .with_headers(JSON_HEADERS)
        .with_body(hook_request(sign), content_type="application/json")
        .will_respond_with(200)
        .with_header("Content-Type", "application/json")
        .with_body(NO_CARDS, content_type="application/json")
    )
    calls.append(("POST", SIGN, sign, 200, NO_CARDS))

    for outcome in ("accepted", "overridden"):
        feedback = load(REQUESTS / f"sandbox-feedback-{outcome}.json")
        path = f"{SELECT}/feedback"
        (
            pact.upon_receiving(f"{outcome} feedback on a card")
            .with_request("POST", path)
            .with_headers(JSON_HEADERS)
            .with_body(feedback_request(feedback), content_type="application/json")
            .will_respond_with(200)
            .with_header("Content-Type", "application/json")
            .with_body({}, content_type="application/json")
        )
        calls.append(("POST", path, feedback, 200, {}))

    (
        pact.upon_receiving("the CORS preflight before an order-select call")
        .with_request("OPTIONS", SELECT)
        .with_header("Origin", "https://sandbox.cds-hooks.org")
        .with_header("Access-Control-Request-Method", "POST")
        .with_header("Access-Control-Request-Headers", "authorization,content-type")
        .will_respond_with(200)
        .with_header(
            "Access-Control-Allow-Origin",
            match.regex("https://sandbox.cds-hooks.org", regex=r"^(\*|https://sandbox\.cds-hooks\.org)$"),
        )
        .with_header(
            "Access-Control-Allow-Methods",
            # Pact splits a header on commas and matches each value: every allowed method is one
            # of these, and the example lists three (the service's answer must name POST).
            match.regex("GET, OPTIONS, POST", regex=r"^(GET|OPTIONS|POST|HEAD)$"),
        )
        .with_header(
            "Access-Control-Allow-Headers",
            match.regex(
                "authorization, content-type",
                regex=r"(?i)^(\*|authorization|content-type)$",
            ),
        )
    )
    calls.append(("OPTIONS", SELECT, None, 200, None))
    return calls


def test_sandbox_consumer_pact() -> None:
    pact = Pact(CONSUMER, PROVIDER).with_specification("V4")
    calls = _define(pact)
    preflight = {
        "Origin": "https://sandbox.cds-hooks.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with pact.serve() as server, requests.Session() as session:
        for method, path, body, status, expected in calls:
            if method == "OPTIONS":
                response = session.options(f"{server.url}{path}", headers=preflight, timeout=10)
                assert response.status_code == status
                assert "POST" in response.headers["Access-Control-Allow-Methods"]
                continue
            response = session.post(f"{server.url}{path}", json=body, headers=JSON_HEADERS, timeout=10)
            assert response.status_code == status, response.text
            assert response.json() == expected
    pact.write_file(PACT_DIR, overwrite=True)
