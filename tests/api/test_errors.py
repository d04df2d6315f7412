"""Every error path: a JSON OperationOutcome naming the field, with CORS headers; never HTML,
never a stack trace. And the CORS preflights the sandbox sends before every call."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.api.helpers import AMLODIPINE, hook_request, order, sandbox, url_for

ORIGIN = "https://sandbox.cds-hooks.org"
SIGN = url_for("order-sign")
SELECT = url_for("order-select")
FEEDBACK = f"{SIGN}/feedback"


def outcome(response: Any, status: int) -> str:
    """Assert the response is an OperationOutcome error with CORS headers; return its message."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "application/json", response.mimetype
    assert response.headers.get("Access-Control-Allow-Origin") in {"*", ORIGIN}
    assert "<html" not in text.lower() and "Traceback" not in text and 'File "' not in text
    body = json.loads(text)
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] in {"error", "fatal"} and issue["code"]
    return str(issue["diagnostics"])


def post(client: Any, path: str, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    headers.setdefault("Content-Type", "application/json")
    return client.post(path, data=raw, headers={"Origin": ORIGIN, **headers})


def amlodipine_sign() -> dict[str, Any]:
    return hook_request("order-sign", [order("R4", AMLODIPINE)])


def test_unknown_service_is_404(client: Any) -> None:
    message = outcome(post(client, "/cds-services/no-such-service", amlodipine_sign()), 404)
    assert "no-such-service" in message


def test_unknown_path_is_404_json(client: Any) -> None:
    outcome(client.get("/nothing/here", headers={"Origin": ORIGIN}), 404)


def test_feedback_to_unknown_service_is_404(client: Any) -> None:
    outcome(post(client, "/cds-services/nope/feedback", {"feedback": []}), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", SIGN), ("put", "/cds-services"), ("delete", SELECT), ("get", FEEDBACK), ("patch", SIGN)],
)
def test_wrong_method_is_405(client: Any, method: str, path: str) -> None:
    response = getattr(client, method)(path, headers={"Origin": ORIGIN})
    outcome(response, 405)
    assert "OPTIONS" in response.headers["Allow"]


def test_body_over_the_limit_is_413(make_app: Callable[..., Flask]) -> None:
    client = make_app(max_body_bytes=2000).test_client()
    body = amlodipine_sign()
    body["extension"] = {"padding": "x" * 3000}
    message = outcome(post(client, SIGN, body), 413)
    assert "CDS_MAX_BODY_BYTES" in message
    outcome(post(client, FEEDBACK, {"feedback": [], "padding": "y" * 3000}), 413)


@pytest.mark.parametrize("path", [SIGN, FEEDBACK])
def test_text_plain_is_415(client: Any, path: str) -> None:
    message = outcome(post(client, path, amlodipine_sign(), **{"Content-Type": "text/plain"}), 415)
    assert "application/json" in message


def test_no_content_type_is_415(client: Any) -> None:
    response = client.post(SIGN, data=json.dumps(amlodipine_sign()), headers={"Origin": ORIGIN})
    outcome(response, 415)


@pytest.mark.parametrize(
    "raw",
    ['{"hook": "order-sign",', "", "[1, 2]", '"just a string"', b"\xff\xfe{}"],
    ids=["truncated", "empty", "array", "string", "not-utf8"],
)
def test_malformed_json_is_400(client: Any, raw: str | bytes) -> None:
    outcome(post(client, SIGN, raw), 400)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_400(client: Any, constant: str) -> None:
    raw = json.dumps(amlodipine_sign()).replace('"e1a7c0de', f'{constant}, "x": "e1a7c0de', 1)
    assert constant in raw
    outcome(post(client, SIGN, raw), 400)


def test_nesting_deeper_than_the_limit_is_400(make_app: Callable[..., Flask]) -> None:
    client = make_app(max_json_depth=20).test_client()
    body = amlodipine_sign()
    deep: Any = "bottom"
    for _ in range(30):
        deep = {"x": deep}
    body["extension"] = deep
    assert "20" in outcome(post(client, SIGN, body), 400)
    # far beyond Python's recursion limit: still a 400, not a crash
    raw = '{"a":' * 100_000 + "1" + "}" * 100_000
    outcome(post(client, SIGN, raw), 400)


def test_nesting_within_the_limit_is_accepted(make_app: Callable[..., Flask]) -> None:
    client = make_app(max_json_depth=20).test_client()
    body = amlodipine_sign()
    deep: Any = "bottom"
    for _ in range(8):
        deep = {"x": deep}
    body["extension"] = deep
    assert post(client, SIGN, body).status_code == 200


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    node = body
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return body


@pytest.mark.parametrize(
    ("path", "field"),
    [(("context",), "context"), (("hookInstance",), "hookInstance"), (("hook",), "hook"),
     (("context", "draftOrders"), "draftOrders"), (("context", "patientId"), "patientId")],
    ids=lambda v: ".".join(v) if isinstance(v, tuple) else v,
)  # fmt: skip
def test_missing_field_is_400_naming_it(client: Any, path: tuple[str, ...], field: str) -> None:
    body = _without(sandbox("order-sign-baclofen-with-prefetch"), *path)
    assert field in outcome(post(client, SIGN, body), 400)


def test_missing_selections_is_400(client: Any) -> None:
    body = _without(sandbox("order-select-baclofen-lioresal"), "context", "selections")
    assert "selections" in outcome(post(client, SELECT, body), 400)


@pytest.mark.parametrize("selections", ["MedicationRequest/request-123", {"a": 1}, 7, []])
def test_selections_not_a_non_empty_array_is_400(client: Any, selections: Any) -> None:
    body = sandbox("order-select-baclofen-lioresal")
    body["context"]["selections"] = selections
    assert "selections" in outcome(post(client, SELECT, body), 400)


@pytest.mark.parametrize("draft_orders", [[], "Bundle", 3])
def test_draft_orders_not_an_object_is_400(client: Any, draft_orders: Any) -> None:
    body = sandbox("order-sign-baclofen-with-prefetch")
    body["context"]["draftOrders"] = draft_orders
    assert "draftOrders" in outcome(post(client, SIGN, body), 400)


def test_fhir_authorization_without_fhir_server_is_400(client: Any) -> None:
    body = sandbox("order-sign-baclofen-with-prefetch")
    del body["fhirServer"]
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer"}
    assert "fhirServer" in outcome(post(client, SIGN, body), 400)


def test_hook_not_matching_the_service_is_400(client: Any) -> None:
    body = sandbox("order-sign-baclofen-with-prefetch")  # hook order-sign
    message = outcome(post(client, SELECT, body), 400)
    assert "hook" in message and "order-select" in message


def test_too_many_draft_orders_is_400(make_app: Callable[..., Flask]) -> None:
    client = make_app(max_draft_orders=3).test_client()
    drafts = [order("R4", AMLODIPINE, ident=f"rx-{n}") for n in range(4)]
    assert "draftOrders" in outcome(post(client, SIGN, hook_request("order-sign", drafts)), 400)
    assert post(client, SIGN, hook_request("order-sign", drafts[:3])).status_code == 200


def test_invalid_feedback_is_400_naming_the_field(client: Any) -> None:
    item = {"card": "c-1", "outcome": "dismissed", "outcomeTimestamp": "2026-11-21T12:00:00Z"}
    assert "outcome" in outcome(post(client, FEEDBACK, {"feedback": [item]}), 400)


@pytest.mark.parametrize("path", ["/cds-services", SIGN, FEEDBACK])
def test_preflight_is_answered_with_cors_headers(client: Any, path: str) -> None:
    response = client.options(
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET" if path == "/cds-services" else "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert 200 <= response.status_code < 300
    assert response.headers["Access-Control-Allow-Origin"] in {"*", ORIGIN}
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed


def test_success_carries_cors_headers_too(client: Any) -> None:
    response = post(client, SIGN, amlodipine_sign())
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in {"*", ORIGIN}
