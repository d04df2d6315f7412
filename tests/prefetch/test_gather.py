"""FhirFetcher.gather: prefetch first, then the FHIR server (a real HTTP stub on loopback)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from spasticity_cds.errors import BadRequest, PreconditionFailed
from spasticity_cds.prefetch import FhirFetcher
from tests.prefetch.helpers import PATIENT_ID, TEMPLATES, TOKEN, hook_request
from tests.support.fhir_stub import FhirStub, RecordedRequest, StubResponse, outcome, searchset

Fetcher = Callable[..., FhirFetcher]

PATIENT = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "1950-01-01"}
ALS = {
    "resourceType": "Condition",
    "id": "c1",
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "86044005"}]},
}
BACLOFEN = {"resourceType": "MedicationRequest", "id": "m1", "status": "active"}


def conditions(n: int, prefix: str = "c") -> list[dict[str, Any]]:
    return [{"resourceType": "Condition", "id": f"{prefix}{i}"} for i in range(n)]


# -- prefetch as given ------------------------------------------------------------------------------


def test_prefetch_is_used_as_given_without_any_http_call(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    prefetch = {
        "patient": PATIENT,
        "conditions": searchset([ALS]).body,
        "meds": {"resourceType": "Bundle", "type": "searchset", "total": 0},
    }
    result = make_fetcher().gather(
        templates=TEMPLATES,
        needed=["patient", "conditions", "meds"],
        request=hook_request(fhir.base_url, prefetch=prefetch),
    )
    assert result == {"patient": [PATIENT], "conditions": [ALS], "meds": []}
    assert fhir.requests == []


def test_null_means_no_data_and_is_not_fetched(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["meds"], request=hook_request(fhir.base_url, prefetch={"meds": None})
    )
    assert result == {"meds": []}
    assert fhir.requests == []


def test_prefetch_without_fhir_server_is_enough_when_complete(make_fetcher: Fetcher) -> None:
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["patient"], request=hook_request(None, prefetch={"patient": PATIENT})
    )
    assert result == {"patient": [PATIENT]}


def test_keys_not_needed_are_never_fetched(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", searchset([ALS]))
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
    )
    assert result == {"conditions": [ALS]}
    assert [r.path for r in fhir.requests] == ["/Condition"]


def test_nothing_needed_means_nothing_fetched(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    assert make_fetcher().gather(templates=TEMPLATES, needed=[], request=hook_request(fhir.base_url)) == {}
    assert fhir.requests == []


# -- fetching ---------------------------------------------------------------------------------------


def test_missing_search_key_is_fetched_with_query_and_token(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Observation", searchset([{"resourceType": "Observation", "id": "o1"}]))
    result = make_fetcher().gather(
        templates=TEMPLATES,
        needed=["labs"],
        request=hook_request(fhir.base_url, prefetch={"patient": PATIENT}),
    )
    assert result == {"labs": [{"resourceType": "Observation", "id": "o1"}]}
    [seen] = fhir.requests
    assert seen.method == "GET"
    assert seen.path == "/Observation"
    assert seen.query == {
        "patient": [PATIENT_ID],
        "code": ["http://loinc.org|1742-6,http://loinc.org|1920-8"],
        "_sort": ["-date"],
        "_count": ["50"],
    }
    assert seen.header("Authorization") == f"Bearer {TOKEN}"
    assert seen.header(
        "Accept",
    ).startswith("application/fhir+json")


def test_missing_read_key_is_fetched_and_type_checked(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route(f"/Patient/{PATIENT_ID}", StubResponse(body=PATIENT))
    fhir.route("/Practitioner/prac-1", StubResponse(body={"resourceType": "Practitioner", "id": "prac-1"}))
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["patient", "prescriber"], request=hook_request(fhir.base_url)
    )
    assert result == {"patient": [PATIENT], "prescriber": [{"resourceType": "Practitioner", "id": "prac-1"}]}


def test_context_values_are_url_encoded_in_the_request(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", searchset([]))
    make_fetcher().gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url, patientId="a b&c=d")
    )
    [seen] = fhir.requests
    assert seen.query == {"patient": ["a b&c=d"]}


def test_no_token_means_no_authorization_header(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", searchset([ALS]))
    make_fetcher().gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url, token=None)
    )
    assert fhir.requests[0].header("Authorization") is None


def test_fhir_server_with_a_path_and_trailing_slash(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/fhir/r4/Condition", searchset([ALS]))
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url + "/fhir/r4/")
    )
    assert result == {"conditions": [ALS]}


@pytest.mark.parametrize(
    "given",
    [
        outcome("upstream timeout", code="timeout"),
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": outcome("failed")}]},
    ],
    ids=["OperationOutcome", "Bundle-of-OperationOutcome"],
)
def test_operation_outcome_is_not_given_and_refetched(
    fhir: FhirStub, make_fetcher: Fetcher, given: dict[str, Any]
) -> None:
    fhir.route("/Condition", searchset([ALS]))
    result = make_fetcher().gather(
        templates=TEMPLATES,
        needed=["conditions"],
        request=hook_request(fhir.base_url, prefetch={"conditions": given}),
    )
    assert result == {"conditions": [ALS]}
    assert len(fhir.requests_to("/Condition")) == 1


def test_search_outcome_warnings_are_dropped(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    body = searchset([ALS]).body
    body["entry"].append({"resource": outcome("partial", severity="warning"), "search": {"mode": "outcome"}})
    fhir.route("/Condition", StubResponse(body=body))
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
    )
    assert result == {"conditions": [ALS]}


# -- paging -----------------------------------------------------------------------------------------


def test_paging_is_followed(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    pages = [conditions(2, "a"), conditions(2, "b"), conditions(1, "c")]
    fhir.pages("/Condition", pages)
    result = make_fetcher(fhir_max_pages=5).gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
    )
    assert result["conditions"] == pages[0] + pages[1] + pages[2]
    assert len(fhir.requests) == 3
    assert all(r.header("Authorization") == f"Bearer {TOKEN}" for r in fhir.requests)


def test_relative_next_links_are_resolved(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    pages = [conditions(1, "a"), conditions(1, "b")]
    fhir.pages("/Condition", pages, relative=True)
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
    )
    assert result["conditions"] == pages[0] + pages[1]


def test_paging_stops_at_the_bound(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    pages = [conditions(1, f"p{n}-") for n in range(10)]
    fhir.pages("/Condition", pages)
    result = make_fetcher(fhir_max_pages=2).gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
    )
    # The first page plus two `next` links followed.
    assert result["conditions"] == pages[0] + pages[1] + pages[2]
    assert [r.target for r in fhir.requests] == [
        f"/Condition?patient={PATIENT_ID}",
        "/Condition?_page=2",
        "/Condition?_page=3",
    ]


def test_paged_prefetch_is_completed_from_the_server(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", searchset(conditions(1, "second")))
    given = searchset(conditions(2, "first"), next_url=fhir.url("/Condition?_page=2")).body
    result = make_fetcher().gather(
        templates=TEMPLATES,
        needed=["conditions"],
        request=hook_request(fhir.base_url, prefetch={"conditions": given}),
    )
    assert result["conditions"] == conditions(2, "first") + conditions(1, "second")
    assert [r.target for r in fhir.requests] == ["/Condition?_page=2"]


def test_paged_prefetch_without_fhir_server_uses_the_given_page(make_fetcher: Fetcher) -> None:
    given = searchset(conditions(2), next_url="http://127.0.0.1:9/Condition?_page=2").body
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(None, prefetch={"conditions": given})
    )
    assert result["conditions"] == conditions(2)


def test_next_link_to_another_server_fails(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    with FhirStub() as elsewhere:
        elsewhere.route("/Condition", searchset([ALS]))
        fhir.route("/Condition", searchset([ALS], next_url=elsewhere.url("/Condition?page=2")))
        with pytest.raises(PreconditionFailed, match="'conditions'.*outside the FHIR server"):
            make_fetcher().gather(
                templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
            )
        assert elsewhere.requests == []


def test_a_prefetch_value_that_is_not_fhir_is_400_naming_the_key(
    fhir: FhirStub, make_fetcher: Fetcher
) -> None:
    with pytest.raises(BadRequest, match="'conditions'") as caught:
        make_fetcher().gather(
            templates=TEMPLATES,
            needed=["conditions"],
            request=hook_request(fhir.base_url, prefetch={"conditions": {"id": PATIENT_ID}}),
        )
    assert caught.value.field == "prefetch.conditions"
    assert PATIENT_ID not in caught.value.message
    assert fhir.requests == []


# -- failures that are 412 --------------------------------------------------------------------------


def test_no_fhir_server_and_a_missing_key_is_412(make_fetcher: Fetcher) -> None:
    with pytest.raises(PreconditionFailed, match="'conditions'.*no fhirServer") as caught:
        make_fetcher().gather(
            templates=TEMPLATES,
            needed=["patient", "conditions"],
            request=hook_request(None, prefetch={"patient": PATIENT}),
        )
    assert caught.value.status == 412


def test_fhir_server_that_is_not_http_is_412(make_fetcher: Fetcher) -> None:
    with pytest.raises(PreconditionFailed, match="fhirServer"):
        make_fetcher().gather(templates=TEMPLATES, needed=["conditions"], request=hook_request("file:///etc"))


def test_unresolvable_token_is_412_when_needed(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    with pytest.raises(PreconditionFailed, match=r"'encounter'.*\{\{context\.encounterId\}\}"):
        make_fetcher().gather(
            templates=TEMPLATES, needed=["conditions", "encounter"], request=hook_request(fhir.base_url)
        )
    assert fhir.requests == []  # fails before any traffic


def test_unresolvable_token_is_harmless_when_not_needed_or_given(
    fhir: FhirStub, make_fetcher: Fetcher
) -> None:
    encounter = {"resourceType": "Encounter", "id": "e1"}
    result = make_fetcher().gather(
        templates=TEMPLATES,
        needed=["encounter"],
        request=hook_request(fhir.base_url, prefetch={"encounter": encounter}),
    )
    assert result == {"encounter": [encounter]}
    assert fhir.requests == []


def test_key_without_template_is_412_when_not_given(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    with pytest.raises(PreconditionFailed, match="'allergies'.*no query"):
        make_fetcher().gather(templates=TEMPLATES, needed=["allergies"], request=hook_request(fhir.base_url))


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (StubResponse(status=500, body=outcome("boom")), "HTTP 500"),
        (StubResponse(status=404, body=outcome("gone")), "HTTP 404"),
        (StubResponse(status=401), "HTTP 401"),
        (StubResponse(body="<html>login</html>", content_type="text/html"), "not JSON"),
        (StubResponse(body=b"\xff\xfe{{{{"), "not JSON"),
        (StubResponse(body=[1, 2]), "not a JSON object"),
        (StubResponse(body="[" * 100_000 + "]" * 100_000), "not JSON"),
        (StubResponse(body={"resourceType": "Patient", "id": "x"}), "expected a Bundle, got Patient"),
        (StubResponse(body=outcome("search failed")), "expected a Bundle, got OperationOutcome"),
        (StubResponse(body={"resourceType": "Bundle", "type": "batch-response"}), "searchset"),
        (
            StubResponse(body={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": "x"}]}),
            "entry 0 is not a resource",
        ),
        (
            StubResponse(body={"resourceType": "Bundle", "type": "searchset", "entry": [{"fullUrl": "u"}]}),
            "entry 0 is not a resource",
        ),
        (
            StubResponse(
                body={
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "entry": [{"resource": outcome("denied"), "search": {"mode": "outcome"}}],
                }
            ),
            "error OperationOutcome",
        ),
    ],
    ids=[
        "500",
        "404",
        "401",
        "html",
        "binary",
        "array",
        "deep",
        "wrong-type",
        "outcome",
        "batch",
        "entry-string",
        "entry-empty",
        "outcome-entry",
    ],
)
def test_bad_search_responses_are_412(
    fhir: FhirStub, make_fetcher: Fetcher, response: StubResponse, reason: str
) -> None:
    fhir.route("/Condition", response)
    with pytest.raises(PreconditionFailed, match="'conditions'") as caught:
        make_fetcher().gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert reason in caught.value.detail  # logged; the client's message names the key only
    assert caught.value.message == "prefetch key 'conditions' could not be fetched from the FHIR server"
    assert PATIENT_ID not in str(caught.value) and TOKEN not in str(caught.value)


def test_read_of_the_wrong_type_is_412(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route(f"/Patient/{PATIENT_ID}", StubResponse(body=searchset([PATIENT]).body))
    with pytest.raises(PreconditionFailed, match="'patient'.*expected Patient, got Bundle"):
        make_fetcher().gather(templates=TEMPLATES, needed=["patient"], request=hook_request(fhir.base_url))


def test_one_failing_key_fails_the_request(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", searchset([ALS]))
    fhir.route("/MedicationRequest", StubResponse(status=403))
    with pytest.raises(PreconditionFailed, match="'meds'.*HTTP 403"):
        make_fetcher().gather(
            templates=TEMPLATES, needed=["conditions", "meds"], request=hook_request(fhir.base_url)
        )


def test_non_bearer_token_type_is_412(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    request = hook_request(fhir.base_url)
    request["fhirAuthorization"]["token_type"] = "MAC"
    with pytest.raises(PreconditionFailed, match="Bearer"):
        make_fetcher().gather(templates=TEMPLATES, needed=["conditions"], request=request)
    assert fhir.requests == []


# -- retries ----------------------------------------------------------------------------------------


def test_503_is_retried_then_succeeds(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    calls: list[RecordedRequest] = []

    def flaky(request: RecordedRequest) -> StubResponse:
        calls.append(request)
        return StubResponse(status=503) if len(calls) < 3 else searchset([ALS])

    fhir.route("/Condition", flaky)
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
    )
    assert result == {"conditions": [ALS]}
    assert len(calls) == 3


def test_persistent_503_is_412_after_a_few_tries(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", StubResponse(status=503))
    with pytest.raises(PreconditionFailed, match="'conditions'.*HTTP 503"):
        make_fetcher().gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert len(fhir.requests) == 3  # first try + 2 retries


def test_500_is_not_retried(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", StubResponse(status=500))
    with pytest.raises(PreconditionFailed):
        make_fetcher().gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert len(fhir.requests) == 1


def test_connection_refused_is_412(make_fetcher: Fetcher) -> None:
    with FhirStub() as gone:
        base = gone.base_url
    with pytest.raises(PreconditionFailed, match="'conditions'.*request failed"):
        make_fetcher().gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(base))


# -- sharing one fetcher ----------------------------------------------------------------------------


def test_concurrent_requests_do_not_mix(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    def per_patient(request: RecordedRequest) -> StubResponse:
        patient = request.query["patient"][0]
        token = request.header("Authorization")
        return searchset([{"resourceType": "Condition", "id": f"{patient}|{token}"}])

    fhir.route("/Condition", per_patient)
    fetcher = make_fetcher()
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            request = hook_request(fhir.base_url, token=f"token-{n}", patientId=f"pat-{n}")
            results[n] = fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=request)
        except BaseException as exc:  # reported below, with the thread's number
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n in range(12):
        assert results[n] == {
            "conditions": [{"resourceType": "Condition", "id": f"pat-{n}|Bearer token-{n}"}]
        }


def test_cookies_are_never_sent_back(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route(
        "/Condition",
        StubResponse(body=searchset([ALS]).body, headers={"Set-Cookie": "session=patient-a; Path=/"}),
    )
    fetcher = make_fetcher()
    for _ in range(2):
        fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert [r.header("Cookie") for r in fhir.requests] == [None, None]


# -- metrics and logs -------------------------------------------------------------------------------


def test_on_fetch_reports_each_fetched_key(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    seen: list[tuple[str, float]] = []
    fhir.route("/Condition", searchset([ALS]))
    fhir.route("/MedicationRequest", searchset([BACLOFEN]))
    fetcher = make_fetcher(on_fetch=lambda outcome, seconds: seen.append((outcome, seconds)))
    fetcher.gather(
        templates=TEMPLATES,
        needed=["conditions", "meds", "patient"],
        request=hook_request(fhir.base_url, prefetch={"patient": PATIENT}),
    )
    assert sorted(o for o, _ in seen) == ["ok", "ok"]
    assert all(0 <= s < 1 for _, s in seen)
    fhir.route("/Condition", StubResponse(status=500))
    with pytest.raises(PreconditionFailed):
        fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert seen[-1][0] == "error"


def test_a_failing_metrics_callback_does_not_break_fetching(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    def broken(outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics down")

    fhir.route("/Condition", searchset([ALS]))
    result = make_fetcher(on_fetch=broken).gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
    )
    assert result == {"conditions": [ALS]}


def test_logs_carry_key_status_latency_but_no_token_or_patient(
    fhir: FhirStub, make_fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    fhir.route("/Condition", searchset([ALS]))
    fhir.route("/MedicationRequest", StubResponse(status=500, body=outcome(f"no {PATIENT_ID}")))
    caplog.set_level(logging.DEBUG)
    fetcher = make_fetcher()
    fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    with pytest.raises(PreconditionFailed):
        fetcher.gather(templates=TEMPLATES, needed=["meds"], request=hook_request(fhir.base_url))
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("spasticity_cds.")]
    assert any("key=conditions status=200" in m for m in ours)
    assert any("key=meds status=500" in m for m in ours)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in everything and PATIENT_ID not in everything


def test_close_is_idempotent_and_gather_after_close_fails(fhir: FhirStub) -> None:
    from spasticity_cds.config import Config

    with FhirFetcher(Config()) as fetcher:
        pass
    fetcher.close()
    with pytest.raises(RuntimeError):
        fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
