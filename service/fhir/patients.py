"""Patient (DSTU2, STU3, R4): birthDate and gender, the same field names in every version."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..records import PatientEntry

_FHIR_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?")


def patient_entry(
    resources: Iterable[Mapping[str, Any]], patient_id: str | None = None
) -> PatientEntry | None:
    """The hook's patient among `resources` (the one with `patient_id` when given), or None.

    A birth date that is not a FHIR date (or dateTime) is dropped: no birth date, no age rule.
    """
    for resource in resources:
        if resource.get("resourceType") != "Patient":
            continue
        if patient_id and resource.get("id") not in (None, patient_id):
            continue
        raw_birth = resource.get("birthDate")
        match = _FHIR_DATE.match(raw_birth) if isinstance(raw_birth, str) else None
        gender = resource.get("gender")
        return PatientEntry(
            birth_date=match.group(0) if match else None,
            gender=gender.strip().lower() if isinstance(gender, str) and gender.strip() else None,
        )
    return None
