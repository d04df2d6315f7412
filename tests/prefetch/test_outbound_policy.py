"""Where the service may call, and whose data it uses: the fhirServer allowlist (CDS_FHIR_SERVERS
and the issuer's list), and one patient per request (in prefetch and from the FHIR server)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from spasticity_cds import metrics
from spasticity_cds.errors import PreconditionFailed
from spasticity_cds.prefetch import FhirFetcher, fhir_server_allowed, issuer_fhir_servers
from tests.prefetch.helpers import PATIENT_ID, TEMPLATES, hook_request
from tests.support.fhir_stub import FhirStub, searchset

Fetcher = Callable[..., FhirFetcher]


def condition(ident: str, patient: str | None = PATIENT_ID, key: str = "subject") -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Condition", "id": ident}
    if patient is not None:
        resource[key] = {"reference": patient if "/" in patient else f"Patient/{patient}"}
    return resource


def sample(name: str, **labels: str) -> float:
    return float(metrics.REGISTRY.get_sample_value(name, labels or None) or 0.0)


# -- allowlist -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "allowed"),
    [
        ("https://ehr.example.org/fhir", True),
        ("https://ehr.example.org/fhir/", True),
        ("https://EHR.example.org:443/fhir/r4", True),
        ("https://ehr.example.org/fhirx", False),  # a prefix ends on a path boundary
        ("https://ehr.example.org/other", False),
        ("http://ehr.example.org/fhir", False),  # scheme
        ("https://ehr.example.org:8443/fhir", False),  # port
        ("https://ehr.example.org.evil.com/fhir", False),
        ("https://user@ehr.example.org/fhir", False),
        ("http://127.0.0.1:5432/fhir", False),
    ],
)
def test_allowlist_prefixes(base: str, allowed: bool) -> None:
    assert fhir_server_allowed(base, ("https://ehr.example.org/fhir",), None) is allowed


def test_both_lists_must_allow_and_an_empty_issuer_list_allows_nothing() -> None:
    base = "https://ehr.example.org/fhir"
    assert fhir_server_allowed(base, (), None)  # no list: any
    assert fhir_server_allowed(base, (), ("https://ehr.example.org/",))
    assert not fhir_server_allowed(base, (), ("https://other.example.org/",))
    assert not fhir_server_allowed(base, ("https://other.example.org/",), ("https://ehr.example.org/",))
    assert not fhir_server_allowed(base, (), ())


def test_a_server_outside_the_allowlist_is_never_contacted(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", searchset([condition("c1")]))
    blocked_before = sample("cds_fhir_server_blocked_total")
    fetcher = make_fetcher(fhir_servers=("https://ehr.example.org/fhir",))
    with pytest.raises(PreconditionFailed) as caught:
        fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert fhir.requests == []
    # The same answer as a request with no fhirServer at all.
    assert "no fhirServer" in caught.value.message
    assert sample("cds_fhir_server_blocked_total") == blocked_before + 1
    # Prefetch still works: the request goes on as if no server had been named.
    given = hook_request(fhir.base_url, prefetch={"conditions": searchset([condition("c2")]).body})
    assert fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=given) == {
        "conditions": [condition("c2")]
    }


def test_an_allowed_server_is_used(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", searchset([condition("c1")]))
    fetcher = make_fetcher(fhir_servers=(fhir.base_url,))
    result = fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    assert result == {"conditions": [condition("c1")]}


def test_the_issuers_list_applies_to_its_requests_only(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    fhir.route("/Condition", searchset([condition("c1")]))
    fetcher = make_fetcher()
    token = issuer_fhir_servers.set(("https://ehr.example.org/fhir",))
    try:
        with pytest.raises(PreconditionFailed):
            fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))
    finally:
        issuer_fhir_servers.reset(token)
    assert fhir.requests == []
    assert fetcher.gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url))


# -- one patient per request -----------------------------------------------------------------------


def test_prefetched_resources_of_another_patient_are_ignored_and_counted(make_fetcher: Fetcher) -> None:
    before = sample("cds_foreign_patient_resources_total", origin="prefetch")
    resources = [
        condition("mine"),
        condition("other", "someone-else"),
        condition("dstu2-mine", key="patient"),
        condition("dstu2-other", "someone-else", key="patient"),
        condition("absolute-mine", f"https://ehr.example.org/fhir/Patient/{PATIENT_ID}/_history/2"),
        condition("absolute-other", "https://ehr.example.org/fhir/Patient/x"),
        condition("group", "Group/ward-7"),
        condition("no-subject", None),
    ]
    request = hook_request(prefetch={"conditions": searchset(resources).body})
    result = make_fetcher().gather(templates=TEMPLATES, needed=["conditions"], request=request)
    assert [r["id"] for r in result["conditions"]] == ["mine", "dstu2-mine", "absolute-mine", "no-subject"]
    assert sample("cds_foreign_patient_resources_total", origin="prefetch") == before + 4


def test_fetched_resources_of_another_patient_are_ignored_and_counted(
    fhir: FhirStub, make_fetcher: Fetcher
) -> None:
    before = sample("cds_foreign_patient_resources_total", origin="fhir-server")
    fhir.route("/Condition", searchset([condition("mine"), condition("other", "intruder")]))
    fhir.route(f"/Patient/{PATIENT_ID}", searchset([]))  # unused
    result = make_fetcher().gather(
        templates=TEMPLATES, needed=["conditions"], request=hook_request(fhir.base_url)
    )
    assert [r["id"] for r in result["conditions"]] == ["mine"]
    assert sample("cds_foreign_patient_resources_total", origin="fhir-server") == before + 1


def test_a_patient_read_of_another_id_is_ignored(make_fetcher: Fetcher) -> None:
    request = hook_request(prefetch={"patient": {"resourceType": "Patient", "id": "not-this-one"}})
    assert make_fetcher().gather(templates=TEMPLATES, needed=["patient"], request=request) == {"patient": []}


def test_412_does_not_tell_http_404_from_connection_refused(fhir: FhirStub, make_fetcher: Fetcher) -> None:
    """Otherwise fhirServer probes which loopback ports run HTTP (SSRF reconnaissance)."""
    from tests.support.fhir_stub import StubResponse
    from tests.support.postgres import free_port

    fhir.route("/Condition", StubResponse(status=404, body={"resourceType": "OperationOutcome", "issue": []}))
    closed = f"http://127.0.0.1:{free_port()}"
    messages = []
    for base in (fhir.base_url, closed):
        with pytest.raises(PreconditionFailed) as caught:
            make_fetcher().gather(templates=TEMPLATES, needed=["conditions"], request=hook_request(base))
        messages.append((caught.value.message, caught.value.field))
    assert messages[0] == messages[1]
    assert messages[0][0] == "prefetch key 'conditions' could not be fetched from the FHIR server"
