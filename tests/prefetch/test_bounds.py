"""Time, size and redirect bounds of fetching: one deadline for everything, bounded reads."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from spasticity_cds.errors import PreconditionFailed
from spasticity_cds.prefetch import FhirFetcher
from tests.prefetch.helpers import TEMPLATES, TOKEN, hook_request
from tests.support.fhir_stub import FhirStub, MiB, StubResponse, redirect, searchset

Fetcher = Callable[..., FhirFetcher]
FIVE = ["patient", "conditions", "meds", "labs", "statements"]
SLACK = 0.1  # the brief: gather() may overrun its deadline by at most ~100 ms


def _wait_for(predicate: Callable[[], bool], seconds: float = 3.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def _route_five(fhir: FhirStub, *, delay: float) -> None:
    fhir.route(
        "/Patient/pat-7c1e", StubResponse(body={"resourceType": "Patient", "id": "pat-7c1e"}, delay=delay)
    )
    for path in ("/Condition", "/MedicationRequest", "/Observation", "/MedicationStatement"):
        fhir.route(path, StubResponse(body=searchset([]).body, delay=delay))


def test_keys_are_fetched_in_parallel(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    _route_five(fhir, delay=0.05)
    fetcher = make_fetcher()
    started = time.perf_counter()
    result = fetcher.gather(templates=TEMPLATES, needed=FIVE, request=hook_request(fhir.base_url))
    elapsed = time.perf_counter() - started
    assert sorted(result) == sorted(FIVE)
    assert len(fhir.requests) == 5
    # Serial would be >= 250 ms; parallel is one delay plus overhead (a cold pool and cold connections).
    assert elapsed < 0.150, f"5 x 50 ms took {elapsed * 1000:.0f} ms"
    arrivals = sorted(r.received_at for r in fhir.requests)
    assert arrivals[-1] - arrivals[0] < 0.05  # all five were in flight at once
    # Warm: pooled keep-alive connections are reused and stay just as parallel.
    for _ in range(3):
        started = time.perf_counter()
        fetcher.gather(templates=TEMPLATES, needed=FIVE, request=hook_request(fhir.base_url))
        elapsed = time.perf_counter() - started
        assert elapsed < 0.150, f"warm: 5 x 50 ms took {elapsed * 1000:.0f} ms"


def test_a_server_that_never_answers_costs_the_timeout_then_412(
    fhir: FhirStub, make_fetcher: Fetcher
) -> None:
    fhir.route("/Condition", StubResponse(hang=True))
    outcomes: list[str] = []
    fetcher = make_fetcher(fhir_timeout=0.4, on_fetch=lambda outcome, _s: outcomes.append(outcome))
    started = time.perf_counter()
    with pytest.raises(PreconditionFailed, match="'conditions'.*timed out") as caught:
        fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    elapsed = time.perf_counter() - started
    assert 0.4 <= elapsed < 0.4 + SLACK, f"took {elapsed * 1000:.0f} ms"
    assert caught.value.status == 412
    assert len(fhir.requests) == 1  # a read timeout is not retried: the deadline is gone
    assert _wait_for(lambda: outcomes == ["timeout"])


def test_one_deadline_is_shared_by_all_keys_and_pages(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    # Each page takes 150 ms and there are 10 of them: a per-query timeout of 0.5 s would allow all
    # of them (1.5 s); the shared deadline stops the whole gather at 0.5 s.
    pages = [[{"resourceType": "Condition", "id": f"c{n}"}] for n in range(10)]
    fhir.pages("/Condition", pages)
    for number in range(1, 11):
        target = "/Condition" if number == 1 else f"/Condition?_page={number}"
        next_url = fhir.url(f"/Condition?_page={number + 1}") if number < 10 else None
        fhir.route(
            target, StubResponse(body=searchset(pages[number - 1], next_url=next_url).body, delay=0.15)
        )
    fhir.route("/MedicationRequest", StubResponse(body=searchset([]).body, delay=0.15))
    started = time.perf_counter()
    with pytest.raises(PreconditionFailed, match="'conditions'.*timed out"):
        make_fetcher(fhir_timeout=0.5, fhir_max_pages=20).gather(
            templates=TEMPLATES, needed=["conditions", "meds"], request=hook_request(fhir.base_url)
        )
    elapsed = time.perf_counter() - started
    assert 0.5 <= elapsed < 0.5 + SLACK
    assert len(fhir.requests_to("/Condition")) <= 4


def test_a_slow_key_times_out_while_fast_keys_are_fine(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    _route_five(fhir, delay=0.0)
    fhir.route("/Observation", StubResponse(body=searchset([]).body, delay=2.0))
    started = time.perf_counter()
    with pytest.raises(PreconditionFailed, match="^prefetch key 'labs' .*timed out after 0.3 s"):
        make_fetcher(fhir_timeout=0.3).gather(
            templates=TEMPLATES, needed=FIVE, request=hook_request(fhir.base_url)
        )
    assert time.perf_counter() - started < 0.3 + SLACK


def test_a_trickling_body_is_cut_at_the_deadline(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    # 20 bytes every 100 ms: every single socket read succeeds well within any read timeout.
    many = [{"resourceType": "Condition", "id": f"c{n}"} for n in range(20)]
    fhir.route("/Condition", StubResponse(body=searchset(many).body, chunk_size=20, trickle=0.1))
    outcomes: list[str] = []
    fetcher = make_fetcher(fhir_timeout=0.35, on_fetch=lambda outcome, _s: outcomes.append(outcome))
    started = time.perf_counter()
    with pytest.raises(PreconditionFailed, match="timed out"):
        fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert time.perf_counter() - started < 0.35 + SLACK
    # The worker itself also gives up at the deadline, not when the body ends.
    assert _wait_for(lambda: outcomes == ["timeout"], seconds=0.35)
    assert not fhir.requests[0].completed


def test_an_announced_huge_body_is_refused_unread(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    size = 1024 * MiB
    fhir.route("/Condition", StubResponse(body_size=size))
    started = time.perf_counter()
    with pytest.raises(PreconditionFailed, match="'conditions'.*larger than 1048576 bytes"):
        make_fetcher(fhir_max_response_bytes=MiB).gather(
            templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
        )
    assert time.perf_counter() - started < 0.5
    [request] = fhir.requests
    assert _wait_for(lambda: request.aborted)
    assert request.bytes_sent < 64 * MiB


def test_a_huge_body_without_length_is_cut_at_the_limit(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    size = 1024 * MiB
    fhir.route("/Condition", StubResponse(body_size=size, content_length=False))
    started = time.perf_counter()
    with pytest.raises(PreconditionFailed, match="'conditions'.*larger than 1048576 bytes"):
        make_fetcher(fhir_max_response_bytes=MiB).gather(
            templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
        )
    assert time.perf_counter() - started < 1.0
    [request] = fhir.requests
    assert _wait_for(lambda: request.aborted)
    assert request.bytes_sent < 64 * MiB


def test_a_body_at_the_limit_is_accepted(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    body = searchset([{"resourceType": "Condition", "id": "c" * 1000}]).body
    size = len(StubResponse(body=body).payload())
    fhir.route("/Condition", StubResponse(body=body, content_length=False))
    result = make_fetcher(fhir_max_response_bytes=size).gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
    )
    assert result["conditions"][0]["id"] == "c" * 1000
    with pytest.raises(PreconditionFailed, match="larger than"):
        make_fetcher(fhir_max_response_bytes=size - 1).gather(
            templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
        )


def test_redirects_are_followed_with_the_token_on_the_same_server(
    fhir: FhirStub, make_fetcher: Fetcher
) -> None:
    fhir.route("/Condition", redirect("/moved/Condition?patient=x", status=307))
    fhir.route("/moved/Condition", searchset([{"resourceType": "Condition", "id": "c1"}]))
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
    )
    assert result == {"conditions": [{"resourceType": "Condition", "id": "c1"}]}
    assert [r.header("Authorization") for r in fhir.requests] == [f"Bearer {TOKEN}"] * 2


def test_a_redirect_to_another_server_is_never_followed(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    """The patient id in the URL must not go to another host, and its (empty) answer must not stand
    in for the EHR's: the key counts as not fetched (412), and the other host sees nothing."""
    with FhirStub() as other:
        other.route("/Condition", searchset([]))
        fhir.route("/Condition", redirect(other.url("/Condition?patient=x")))
        with pytest.raises(PreconditionFailed, match="'conditions'") as caught:
            make_fetcher().gather(
                templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
            )
        assert caught.value.message == "prefetch key 'conditions' could not be fetched from the FHIR server"
        assert caught.value.detail == "redirect to another server"
        assert other.requests == []


def test_a_redirect_loop_is_412(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", redirect("/a"))
    fhir.route("/a", redirect("/b"))
    fhir.route("/b", redirect("/a"))
    with pytest.raises(PreconditionFailed, match="'conditions'.*redirect loop"):
        make_fetcher().gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert [r.path for r in fhir.requests] == ["/Condition", "/a", "/b"]


def test_too_many_redirects_is_412(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", redirect("/r1"))
    for n in range(1, 10):
        fhir.route(f"/r{n}", redirect(f"/r{n + 1}"))
    with pytest.raises(PreconditionFailed, match="more than 3 redirects"):
        make_fetcher().gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert len(fhir.requests) == 4


def test_keys_still_running_stop_when_another_key_fails(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", StubResponse(status=500, delay=0.05))
    many = [{"resourceType": "MedicationRequest", "id": f"m{n}"} for n in range(50)]
    fhir.route("/MedicationRequest", StubResponse(body=searchset(many).body, chunk_size=10, trickle=0.02))
    started = time.perf_counter()
    with pytest.raises(PreconditionFailed, match="'conditions'.*HTTP 500"):
        make_fetcher(fhir_timeout=2.0).gather(
            templates=TEMPLATES, needed=["conditions", "meds"], request=hook_request(fhir.base_url)
        )
    assert time.perf_counter() - started < 0.3  # fails fast, not at the deadline
    [meds] = fhir.requests_to("/MedicationRequest")
    assert _wait_for(lambda: meds.aborted)  # the worker hung up instead of reading on


def test_retries_stop_at_the_deadline(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    # Each 503 takes 250 ms; the retry budget (2) would allow three tries, the 0.4 s deadline two.
    fhir.route("/Condition", StubResponse(status=503, delay=0.25))
    outcomes: list[str] = []
    fetcher = make_fetcher(fhir_timeout=0.4, on_fetch=lambda outcome, _s: outcomes.append(outcome))
    started = time.perf_counter()
    with pytest.raises(PreconditionFailed, match="'conditions'.*timed out"):
        fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert time.perf_counter() - started < 0.4 + SLACK
    assert _wait_for(lambda: len(outcomes) == 1)
    time.sleep(0.3)  # a third try, if one were made, would have arrived by now
    assert len(fhir.requests) == 2
