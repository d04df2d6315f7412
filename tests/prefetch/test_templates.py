"""Prefetch tokens and the reading of prefetch values: pure functions, no HTTP."""

from __future__ import annotations

import pytest

from spasticity_cds.prefetch import UnresolvableToken, interpret_given, render_template

CONTEXT = {
    "patientId": "p 1/2?x&y",
    "userId": "PractitionerRole/role-9",
    "encounterId": "enc-3",
    "count": 50,
    "flag": True,
    "draftOrders": {"resourceType": "Bundle"},
    "selections": ["MedicationRequest/a"],
    "blank": "  ",
}


def test_context_fields_are_substituted_and_url_encoded() -> None:
    rendered = render_template(
        "Condition?patient={{context.patientId}}&encounter={{ context.encounterId }}", CONTEXT
    )
    assert rendered == "Condition?patient=p%201%2F2%3Fx%26y&encounter=enc-3"


def test_numbers_and_booleans_are_primitives() -> None:
    assert render_template("X?n={{context.count}}&f={{context.flag}}", CONTEXT) == "X?n=50&f=true"


def test_template_text_outside_tokens_is_left_alone() -> None:
    template = (
        "Observation?patient={{context.encounterId}}&code=http://loinc.org|1742-6,http://loinc.org|1920-8"
    )
    assert render_template(template, CONTEXT) == (
        "Observation?patient=enc-3&code=http://loinc.org|1742-6,http://loinc.org|1920-8"
    )


def test_user_tokens_resolve_only_for_their_own_type() -> None:
    assert (
        render_template("PractitionerRole/{{userPractitionerRoleId}}", CONTEXT) == "PractitionerRole/role-9"
    )
    with pytest.raises(UnresolvableToken) as caught:
        render_template("Practitioner/{{userPractitionerId}}", CONTEXT)
    assert caught.value.token == "userPractitionerId"


def test_user_token_from_an_absolute_user_reference() -> None:
    context = {"userId": "https://ehr.example.org/fhir/Practitioner/123"}
    assert render_template("Practitioner/{{userPractitionerId}}", context) == "Practitioner/123"


@pytest.mark.parametrize(
    "token",
    [
        "context.missing",  # not sent (encounterId is optional in every hook)
        "context.draftOrders",  # not a primitive
        "context.selections",  # not a primitive
        "context.draftOrders.id",  # 2.0 allows root-level fields only
        "context.blank",  # an empty value would silently widen the search
        "today() - 90 days",  # 3.0 ballot FHIRPath
        "user",  # sandbox-only token, not CDS Hooks 2.0
    ],
)
def test_unresolvable_tokens(token: str) -> None:
    with pytest.raises(UnresolvableToken):
        render_template(f"Condition?x={{{{{token}}}}}", CONTEXT)


def test_null_means_no_data() -> None:
    given = interpret_given(None)
    assert given is not None and given.resources == [] and given.next_url is None


def test_a_resource_is_a_list_of_one() -> None:
    patient = {"resourceType": "Patient", "id": "p"}
    given = interpret_given(patient)
    assert given is not None and given.resources == [patient]


def test_a_bundle_gives_its_entries_and_next_link_without_outcome_entries() -> None:
    condition = {"resourceType": "Condition", "id": "c"}
    warning = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "informational"}],
    }
    bundle = {
        "resourceType": "Bundle",
        "entry": [{"resource": condition}, {"resource": warning}, {"fullUrl": "urn:x"}],
        "link": [{"relation": "self", "url": "a"}, {"relation": "next", "url": "Condition?page=2"}],
    }
    given = interpret_given(bundle)
    assert given is not None
    assert given.resources == [condition]
    assert given.next_url == "Condition?page=2"


def test_an_empty_searchset_is_no_data() -> None:
    given = interpret_given({"resourceType": "Bundle", "type": "searchset", "total": 0})
    assert given is not None and given.resources == []


@pytest.mark.parametrize(
    "value",
    [
        {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]},
        {
            "resourceType": "Bundle",
            "entry": [{"resource": {"resourceType": "OperationOutcome", "issue": []}}],
        },
        [{"resourceType": "OperationOutcome"}],
    ],
)
def test_outcomes_mean_not_given(value: object) -> None:
    assert interpret_given(value) is None


@pytest.mark.parametrize(
    "value",
    [
        {"id": "no resourceType"},
        "Patient/1",
        {"resourceType": "Bundle", "entry": "nonsense"},
        [{"resourceType": "Condition"}, "junk"],
    ],
)
def test_values_that_are_not_fhir_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        interpret_given(value)


def test_a_list_of_resources_is_accepted() -> None:
    items = [{"resourceType": "Condition", "id": "1"}, {"resourceType": "Condition", "id": "2"}]
    given = interpret_given(items)
    assert given is not None and given.resources == items
