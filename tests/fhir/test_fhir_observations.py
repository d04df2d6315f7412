"""observation_entries: values, comparators, dates, ranges, flags, and what is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from spasticity_cds.fhir import observation_entries
from spasticity_cds.records import Coding, Concept, ObservationEntry

LOINC = "http://loinc.org"
ALT = {"coding": [{"system": LOINC, "code": "1742-6", "display": "ALT"}]}
ALT_CONCEPT = Concept(codings=(Coding(LOINC, "1742-6", "ALT"),))
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def obs(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "o1", "status": "final", "code": ALT, **fields}


def test_r4_quantity_with_reference_range_and_interpretation() -> None:
    resource = obs(
        effectiveDateTime="2026-05-01T08:30:00+02:00",
        valueQuantity={"value": 88, "unit": "U/L", "system": "http://unitsofmeasure.org", "code": "U/L"},
        referenceRange=[
            {"low": {"value": 7, "unit": "U/L"}, "high": {"value": 56, "unit": "U/L"}},
            {"high": {"value": 99}},
        ],
        interpretation=[
            {"coding": [{"system": V3, "code": "h"}]},
            {"coding": [{"system": V3, "code": "H"}]},
            {"text": "abnormal"},
        ],
    )
    assert observation_entries([resource]) == [
        ObservationEntry(
            ref="Observation/o1",
            code=ALT_CONCEPT,
            value=88.0,
            unit="U/L",
            effective=datetime(2026, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=2))),
            status="final",
            range_low=7.0,
            range_high=56.0,
            interpretation=("H",),
        )
    ]


def test_stu3_dstu2_single_interpretation_and_unit_fallback() -> None:
    resource = obs(
        valueQuantity={"value": "41.5", "unit": "U/L"},
        issued="2016-01-02T03:04:05Z",
        interpretation={"coding": [{"code": "A"}, {"code": "hh"}]},
        referenceRange={"high": {"value": 40}},
    )
    (entry,) = observation_entries([resource])
    assert (entry.value, entry.unit, entry.interpretation, entry.range_low, entry.range_high) == (
        41.5,
        "U/L",
        ("A", "HH"),
        None,
        40.0,
    )
    assert entry.effective == datetime(2016, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"valueString": "<60"}, (60.0, None, "<"), id="less-than"),
        pytest.param(
            {"valueString": " >90 mL/min/1.73m2 "}, (90.0, "mL/min/1.73m2", ">"), id="greater-with-unit"
        ),
        pytest.param({"valueString": ">=1.5"}, (1.5, None, ">="), id="at-least"),
        pytest.param({"valueString": "45"}, (45.0, None, None), id="plain-number-text"),
        pytest.param({"valueString": "see note"}, (None, None, None), id="not-a-number"),
        pytest.param(
            {"valueQuantity": {"value": 60, "comparator": "<", "code": "mL/min/{1.73_m2}"}},
            (60.0, "mL/min/{1.73_m2}", "<"),
            id="quantity-comparator",
        ),
        pytest.param(
            {"valueQuantity": {"value": 60, "comparator": "~"}}, (60.0, None, None), id="bad-comparator"
        ),
        pytest.param({"valueInteger": 3}, (3.0, None, None), id="integer"),
        pytest.param({"valueCodeableConcept": {"text": "positive"}}, (None, None, None), id="coded-value"),
        pytest.param({"valueQuantity": {"value": True}}, (None, None, None), id="boolean-is-no-number"),
    ],
)
def test_values(value: dict[str, Any], expected: tuple[float | None, str | None, str | None]) -> None:
    (entry,) = observation_entries([obs(**value)])
    assert (entry.value, entry.unit, entry.comparator) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"effectiveDateTime": "2026-05-01"}, datetime(2026, 5, 1, tzinfo=UTC), id="bare-date"),
        pytest.param({"effectiveDateTime": "2026-05"}, datetime(2026, 5, 1, tzinfo=UTC), id="year-month"),
        pytest.param({"effectiveDateTime": "2026"}, datetime(2026, 1, 1, tzinfo=UTC), id="year"),
        pytest.param(
            {"effectiveDateTime": "2026-05-01T10:00:00"},
            datetime(2026, 5, 1, 10, tzinfo=UTC),
            id="no-zone-is-utc",
        ),
        pytest.param(
            {"effectivePeriod": {"start": "2026-05-01", "end": "2026-05-03T00:00:00Z"}},
            datetime(2026, 5, 3, tzinfo=UTC),
            id="period-end",
        ),
        pytest.param(
            {"effectivePeriod": {"start": "2026-05-01"}}, datetime(2026, 5, 1, tzinfo=UTC), id="period-start"
        ),
        pytest.param(
            {"effectiveInstant": "2026-05-01T10:00:00.123Z"},
            datetime(2026, 5, 1, 10, 0, 0, 123000, tzinfo=UTC),
            id="instant",
        ),
        pytest.param(
            {"effectiveDateTime": "garbage", "issued": "2026-05-02T00:00:00Z"},
            datetime(2026, 5, 2, tzinfo=UTC),
            id="bad-then-issued",
        ),
        pytest.param({"effectiveDateTime": "2026-13-45"}, None, id="impossible-date"),
        pytest.param({}, None, id="missing-effective"),
    ],
)
def test_effective(fields: dict[str, Any], expected: datetime | None) -> None:
    (entry,) = observation_entries([obs(valueQuantity={"value": 1}, **fields)])
    assert entry.effective == expected
    assert entry.effective is None or entry.effective.tzinfo is not None


def test_withdrawn_results_and_other_types_are_skipped() -> None:
    resources = [
        obs(id="keep", status="preliminary"),
        obs(id="err", status="entered-in-error"),
        obs(id="cancel", status="Cancelled"),
        {"resourceType": "Condition", "id": "c", "code": ALT},
        [obs(id="nested")],
    ]
    assert [e.ref for e in observation_entries(resources)] == ["Observation/keep"]


def test_wanted_sees_the_code_before_anything_else_is_read() -> None:
    class Exploding(dict[str, Any]):
        """A resource whose every field but resourceType and code raises when read."""

        def get(self, key: str, default: Any = None) -> Any:
            if key not in ("resourceType", "code"):
                raise AssertionError(f"read {key} of an unwanted resource")
            return super().get(key, default)

    unwanted = Exploding(resourceType="Observation", code={"text": "Sodium"}, valueQuantity={"value": 140})
    wanted_one = obs(valueQuantity={"value": 30})
    entries = observation_entries([unwanted, wanted_one], wanted=lambda code: code == ALT_CONCEPT)
    assert [e.value for e in entries] == [30.0]
