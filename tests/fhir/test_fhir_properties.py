"""Properties of the edge, checked on generated input.

1. A valid R4 (or STU3) MedicationRequest gives the same record whether it is read through the
   fhir.resources model or by the tolerant dict reader, so validating drafts changes nothing but
   confidence.
2. Hostile input never makes the edge raise anything but the ValueError `resources_of` promises.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from spasticity_cds.fhir import (
    R4,
    STU3,
    condition_entries,
    medication_entries,
    medication_index,
    models,
    observation_entries,
    resources_of,
)

# --- valid MedicationRequests -------------------------------------------------------------------

words = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9 ]{0,12}[A-Za-z0-9])?", fullmatch=True)
codes = st.from_regex(r"[A-Za-z0-9{}/._-]{1,10}", fullmatch=True)
uris = codes.map(lambda c: f"http://example.org/{c}")
decimals = st.one_of(
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=0.001, max_value=10_000, allow_nan=False, allow_infinity=False).map(
        lambda f: round(f, 3)
    ),
)
dates = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["2026", "2026-06", "2026-06-01T10:00:00Z", "2026-06-01T10:00:00.120+01:00"]),
)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def compact(**fields: Any) -> dict[str, Any]:
    """A JSON object without absent fields (FHIR forbids null and empty objects)."""
    return {k: v for k, v in fields.items() if v is not None and v != [] and v != {}}


codings = st.builds(compact, system=optional(uris), code=optional(codes), display=optional(words)).filter(
    bool
)
concepts = st.builds(compact, coding=st.lists(codings, max_size=3), text=optional(words)).filter(bool)
quantities = st.builds(
    compact, value=decimals, unit=optional(words), system=optional(uris), code=optional(codes)
)
ranges = st.builds(compact, low=optional(quantities), high=optional(quantities)).filter(bool)
repeats = st.builds(
    compact,
    frequency=optional(st.integers(1, 12)),
    frequencyMax=optional(st.integers(1, 12)),
    period=optional(decimals),
    periodUnit=st.sampled_from(["s", "min", "h", "d", "wk", "mo", "a"]),
)


@st.composite
def r4_dosages(draw: st.DrawFn) -> dict[str, Any]:
    dose = draw(
        st.one_of(
            st.builds(lambda q: {"doseQuantity": q}, quantities),
            st.builds(lambda r: {"doseRange": r}, ranges),
        )
    )
    as_needed = draw(st.sampled_from(["none", "boolean", "concept"]))
    return compact(
        text=draw(optional(words)),
        route=draw(optional(concepts)),
        timing=draw(optional(st.builds(lambda r: {"repeat": r}, repeats))),
        doseAndRate=draw(st.lists(st.just(dose), max_size=1)),
        asNeededBoolean=draw(st.booleans()) if as_needed == "boolean" else None,
        asNeededCodeableConcept=draw(concepts) if as_needed == "concept" else None,
    )


@st.composite
def r4_requests(draw: st.DrawFn) -> dict[str, Any]:
    contained: list[dict[str, Any]] = []
    resource = compact(
        resourceType="MedicationRequest",
        id=draw(optional(codes.filter(lambda c: all(ch.isalnum() or ch in "-." for ch in c)))),
        status=draw(st.sampled_from(["active", "on-hold", "cancelled", "completed", "stopped", "draft"])),
        intent=draw(st.sampled_from(["proposal", "plan", "order", "original-order"])),
        subject={"reference": "Patient/p1"},
        authoredOn=draw(optional(dates)),
        doNotPerform=draw(optional(st.booleans())),
        category=draw(st.lists(concepts, max_size=2)),
        reasonCode=draw(st.lists(concepts, max_size=2)),
        basedOn=draw(
            st.lists(
                codes.map(lambda c: {"reference": f"MedicationRequest/{c.replace('/', '')}"}), max_size=2
            )
        ),
        dosageInstruction=draw(st.lists(r4_dosages(), max_size=3)),
    )
    if draw(st.booleans()):
        resource["medicationCodeableConcept"] = draw(concepts)
    else:
        contained.append(compact(resourceType="Medication", id="med", code=draw(optional(concepts))))
        resource["medicationReference"] = compact(reference="#med", display=draw(optional(words)))
    reasons = draw(st.sampled_from(["none", "contained", "display"]))
    if reasons == "contained":
        contained.append(
            {
                "resourceType": "Condition",
                "id": "cond",
                "subject": {"reference": "Patient/p1"},
                "code": draw(concepts),
            }
        )
        resource["reasonReference"] = [{"reference": "#cond"}]
    elif reasons == "display":
        resource["reasonReference"] = [{"reference": "Condition/elsewhere", "display": draw(words)}]
    if contained:
        resource["contained"] = contained
    return resource


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(r4_requests())
def test_r4_model_and_dict_paths_agree(resource: dict[str, Any]) -> None:
    assert models.validated(resource, R4) is not None, "the generator must produce valid R4"
    through_model = medication_entries([resource], origin="draft", medications={}, validate=True)
    through_dict = medication_entries([resource], origin="draft", medications={}, validate=False)
    note(repr(through_dict))
    assert through_model == through_dict
    assert through_model[0].fhir_version == R4


@st.composite
def stu3_requests(draw: st.DrawFn) -> dict[str, Any]:
    dosages = []
    for dosage in draw(st.lists(r4_dosages(), max_size=2)):
        flattened = {k: v for k, v in dosage.items() if k != "doseAndRate"}
        flattened.update(*dosage.get("doseAndRate", []))  # STU3 keeps the dose on the dosage itself
        dosages.append(flattened)
    return compact(
        resourceType="MedicationRequest",
        id="stu3",
        status=draw(st.sampled_from(["active", "on-hold", "cancelled", "completed", "stopped", "draft"])),
        intent=draw(st.sampled_from(["proposal", "plan", "order", "instance-order"])),
        subject={"reference": "Patient/p1"},
        context={"reference": "Encounter/e1"},
        medicationCodeableConcept=draw(concepts),
        reasonCode=draw(st.lists(concepts, max_size=2)),
        dosageInstruction=dosages,
    )


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stu3_requests())
def test_stu3_model_and_dict_paths_agree(resource: dict[str, Any]) -> None:
    assert models.validated(resource, STU3) is not None, "the generator must produce valid STU3"
    through_model = medication_entries([resource], origin="draft", medications={}, validate=True)
    assert through_model == medication_entries([resource], origin="draft", medications={}, validate=False)
    assert through_model[0].fhir_version == STU3


# --- hostile input ------------------------------------------------------------------------------

FIELDS = [
    "resourceType",
    "id",
    "entry",
    "resource",
    "fullUrl",
    "status",
    "code",
    "coding",
    "system",
    "display",
    "text",
    "value",
    "unit",
    "comparator",
    "contained",
    "reference",
    "medicationCodeableConcept",
    "medicationReference",
    "dosageInstruction",
    "dosage",
    "doseAndRate",
    "doseQuantity",
    "doseRange",
    "high",
    "low",
    "quantityQuantity",
    "timing",
    "repeat",
    "frequency",
    "frequencyMax",
    "period",
    "periodUnit",
    "periodUnits",
    "asNeededBoolean",
    "asNeededCodeableConcept",
    "route",
    "reasonCode",
    "reasonReference",
    "reasonCodeableConcept",
    "reasonForUseReference",
    "doNotPerform",
    "wasNotTaken",
    "taken",
    "basedOn",
    "derivedFrom",
    "authoredOn",
    "dateWritten",
    "clinicalStatus",
    "verificationStatus",
    "recordedDate",
    "valueQuantity",
    "valueString",
    "valueInteger",
    "effectiveDateTime",
    "effectivePeriod",
    "end",
    "start",
    "issued",
    "referenceRange",
    "interpretation",
    "category",
    "intent",
    "subject",
]
TYPES = [
    "Bundle",
    "MedicationRequest",
    "MedicationOrder",
    "MedicationStatement",
    "Medication",
    "Condition",
    "Observation",
    "OperationOutcome",
    "Patient",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.just(10**400),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(TYPES + ["#med", "Medication/m", "<60", "2026-01-01"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=5)), children, max_size=6),
    ),
    max_leaves=25,
)
resources = st.builds(
    lambda kind, body: {**body, "resourceType": kind},
    st.sampled_from(TYPES),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=10),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, resources, st.lists(resources, max_size=4)))
def test_resources_of_raises_only_value_error(value: Any) -> None:
    try:
        result = resources_of(value)
    except ValueError:
        return
    assert result is None or all(isinstance(r, dict) for r in result)
    medication_index(value)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(resources, json_values), max_size=5),
    st.booleans(),
    st.sampled_from([None, "STU3", "x"]),
)
def test_entry_readers_never_raise(items: list[Any], validate: bool, hint: str | None) -> None:
    index = {"Medication/m": {"resourceType": "Medication", "code": items[0] if items else None}, "#med": 3}
    medication_entries(items, origin="draft", medications=index, hint=hint, validate=validate)
    condition_entries(items, wanted=lambda code: True)
    observation_entries(items)
