"""A hook request holding an escaped lone surrogate ("\\ud800") is answered, never a 500.

Such JSON is valid text but not Unicode, so no string holding one can become UTF-8: a prefetch
URL, the repeat guard's HMAC, the database, the JSON response. Fuzzing found each of those as a
500. A hook call reads every such character as U+FFFD, as card text shows it (service/validation.py,
`parse_json_body`); feedback, which stores what it is sent, still refuses it naming the field
(tests/api/test_feedback_hostile.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from spasticity_cds.errors import BadRequest
from spasticity_cds.validation import parse_json_body, validator
from tests.api.helpers import (
    BACLOFEN,
    DIAZEPAM,
    PATIENT,
    TOKEN,
    als_condition,
    bundle,
    hook_request,
    order,
    topics,
    url_for,
)
from tests.support.fhir_stub import FhirStub, StubResponse, searchset

LONE = "\ud800"


def _prefetch() -> dict[str, Any]:
    return {
        "patient": {"resourceType": "Patient", "id": PATIENT},
        "conditions": bundle(als_condition(), searchset=True),
        "medicationRequests": bundle(order("R4", BACLOFEN, status="active", ident="rx-b"), searchset=True),
        "medicationStatements": {"resourceType": "Bundle", "type": "searchset", "total": 0},
        "lungFunctionLabs": {"resourceType": "Bundle", "type": "searchset", "total": 0},
    }


def _request(hook: str = "order-sign") -> dict[str, Any]:
    body = hook_request(hook, [order("R4", DIAZEPAM)], prefetch=_prefetch())
    body["context"]["encounterId"] = "enc-1"
    return body


def _post(client: Any, hook: str, body: dict[str, Any]) -> Any:
    raw = json.dumps(body)  # ensure_ascii: the surrogate travels as the escape "\ud800"
    assert "\\ud800" in raw
    return client.post(url_for(hook), data=raw, content_type="application/json")


def _valid(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert not [e.message for e in validator("cds-response.schema.json").iter_errors(body)]
    return body  # type: ignore[no-any-return]


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


DRAFT = "context.draftOrders.entry.0.resource"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        # the repeat guard hashes encounter and draft ids: the HMAC took UTF-8
        ("context.encounterId", f"enc{LONE}"),
        (f"{DRAFT}.id", f"request{LONE}"),
        # shown on the card: the JSON response took UTF-8
        (f"{DRAFT}.medicationCodeableConcept.text", f"Diazepam 5 MG Oral Tablet {LONE}"),
        (f"{DRAFT}.medicationCodeableConcept.coding.0.display", f"Diazepam {LONE}"),
        ("prefetch.conditions.entry.0.resource.code.text", f"ALS {LONE}"),
        ("hookInstance", f"e1a7c0de{LONE}"),
    ],
)
@pytest.mark.parametrize("hook", ["order-sign", "order-select"])
def test_the_cards_fire_and_the_character_shows_as_replacement(
    client: Any, hook: str, path: str, value: str
) -> None:
    body = _request(hook)
    _set(body, path, value)
    if hook == "order-select":
        draft = body["context"]["draftOrders"]["entry"][0]["resource"]
        body["context"]["selections"] = [f"MedicationRequest/{draft['id']}"]
    answer = _valid(_post(client, hook, body))
    assert {"benzodiazepine-spasticity", "cns-depressant-combination"} <= set(topics(answer))
    text = json.dumps(answer, ensure_ascii=False)
    assert LONE not in text
    if path.endswith(".text"):  # the names a card shows
        assert "\ufffd" in text


def test_a_patient_id_with_one_is_answered(client: Any) -> None:
    body = _request()
    body["context"]["patientId"] = f"{PATIENT}{LONE}"
    _valid(_post(client, "order-sign", body))  # the record is another patient's now: no card needed


def test_a_prefetch_url_carries_the_replacement_percent_encoded(client: Any, fhir: FhirStub) -> None:
    body = _request()
    body["fhirServer"], body["fhirAuthorization"] = fhir.base_url, {
        "access_token": TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
        "subject": "spasticity-cds",
    }  # fmt: skip
    del body["prefetch"]["conditions"]  # fetched, with {{context.patientId}} in its query
    body["context"]["patientId"] = f"{PATIENT}{LONE}"
    fhir.route("/Condition", searchset([]))
    fhir.route(f"/Patient/{PATIENT}%EF%BF%BD", StubResponse(body={"resourceType": "Patient", "id": PATIENT}))
    _valid(_post(client, "order-sign", body))
    queries = fhir.requests_to("/Condition")
    assert queries and f"patient={PATIENT}%EF%BF%BD&" in queries[0].target


# -- the parse itself ---------------------------------------------------------------------------------


def test_replace_reaches_every_string_and_key() -> None:
    raw = b'{"a\\ud800": ["x\\udfff", {"k": "\\ud83d\\ude00 ok \\ud83d"}], "n": 1}'
    value = parse_json_body(raw, "application/json", 64, lone_surrogates="replace")
    assert value == {
        "a\ufffd": ["x\ufffd", {"k": "\U0001f600 ok \ufffd"}],
        "n": 1,
    }  # a pair stays one character


def test_keep_leaves_them_for_a_caller_that_refuses_them_by_name() -> None:
    value = parse_json_body(b'{"a": "x\\ud800"}', "application/json", 64)
    assert value == {"a": "x\ud800"}


def test_a_body_without_one_is_orjsons_value_untouched() -> None:
    raw = json.dumps({"a": ["\u00e9", {"b": "\U0001f600"}]}).encode()
    assert parse_json_body(raw, "application/json", 64, lone_surrogates="replace") == json.loads(raw)


def test_replace_still_refuses_what_the_parse_refuses() -> None:
    deep = b'{"a": "\\ud800", "b": ' + b"[" * 70 + b"]" * 70 + b"}"
    with pytest.raises(BadRequest, match="deeper than 64"):
        parse_json_body(deep, "application/json", 64, lone_surrogates="replace")
    with pytest.raises(BadRequest, match="out of range"):
        parse_json_body(b'{"a": "\\ud800", "b": 1e400}', "application/json", 64, lone_surrogates="replace")


def test_an_integer_beyond_64_bits_beside_one_is_answered(client: Any) -> None:
    body = _request("medication-prescribe")
    draft = body["context"]["medications"]["entry"][0]["resource"]
    draft["reasonCode"] = [{"text": 10**30}]  # a number where text belongs, as sloppy clients send
    body["context"]["encounterId"] = f"enc{LONE}"
    _valid(_post(client, "medication-prescribe", body))
