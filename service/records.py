"""Small immutable records that the clinical core reads.

Everything that arrives as FHIR (DSTU2, STU3, R4, or the loose shapes real clients send) is
normalised at the edge (`service.fhir`) into these records. The rules never see a FHIR dict, so a
version difference is handled once, here, and not in every rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Coding:
    system: str | None
    code: str | None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Concept:
    """A CodeableConcept: codings plus free text (either may be empty)."""

    codings: tuple[Coding, ...] = ()
    text: str | None = None

    def words(self) -> tuple[str, ...]:
        """Every human-readable string in the concept: text first, then displays."""
        out = [self.text] if self.text else []
        out.extend(c.display for c in self.codings if c.display)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Dosage:
    """One dosage instruction, as written (no unit conversion, no clinical meaning yet).

    `dose_value` is doseQuantity.value, or doseRange.high.value where a range is given.
    `frequency` is timing.repeat.frequency, or frequencyMax when the dose is as-needed and a
    maximum is given (as-needed doses count at their maximum).
    """

    dose_value: float | None = None
    dose_unit: str | None = None
    frequency: float | None = None
    period: float | None = None
    period_unit: str | None = None
    as_needed: bool = False
    route: Concept | None = None
    text: str | None = None
    timing_code: str | None = None  # Timing.code (BID, Q6H ...), read when there is no repeat


@dataclass(frozen=True, slots=True)
class MedicationEntry:
    """A medication order or statement from any FHIR version.

    origin: "draft" (from the hook's draft orders) or "record" (prefetch / FHIR server).
    resource_type: MedicationRequest, MedicationOrder or MedicationStatement.
    medication: the drug, with any medicationReference already resolved.
    """

    ref: str
    resource_type: str
    fhir_version: str
    origin: str
    status: str | None
    medication: Concept | None
    dosages: tuple[Dosage, ...] = ()
    do_not_perform: bool = False
    reasons: tuple[Concept, ...] = ()
    authored: str | None = None
    based_on: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def resource_id(self) -> str | None:
        return self.ref.split("/", 1)[1] if "/" in self.ref else None


@dataclass(frozen=True, slots=True)
class ConditionEntry:
    """A Condition. clinical_status / verification_status are lower-case codes or None."""

    ref: str
    code: Concept
    clinical_status: str | None
    verification_status: str | None
    recorded: str | None = None
    abatement: str | None = None  # abatement[x] as written: a date, or "true" (abatementBoolean)


@dataclass(frozen=True, slots=True)
class ObservationEntry:
    """A laboratory Observation with a numeric value.

    `comparator` is "<", "<=", ">=" or ">" when the value is a bound rather than a measurement
    (valueQuantity.comparator, or a valueString such as "<60" or ">90"), else None: "eGFR >90" is
    not 90, and a rule comparing against a threshold must be able to tell.
    """

    ref: str
    code: Concept
    value: float | None
    unit: str | None
    effective: datetime | None
    status: str | None = None
    range_low: float | None = None
    range_high: float | None = None
    interpretation: tuple[str, ...] = ()
    comparator: str | None = None


@dataclass(frozen=True, slots=True)
class PatientEntry:
    """Who the patient is, as far as the rules need: birth date (as written) and administrative sex.

    `birth_date` keeps FHIR's precision ("1950", "1950-06", "1950-06-15"); age is decided in the
    facts, where the order's date is known. `gender` is the FHIR code, lower case, or None.
    """

    birth_date: str | None = None
    gender: str | None = None
