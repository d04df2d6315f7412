"""Conditions of every FHIR version -> `ConditionEntry` records.

The statuses moved between versions: DSTU2 and STU3 write `clinicalStatus` and
`verificationStatus` as code strings, R4 as CodeableConcepts. Either way the record holds one
lower-case code (or None when absent), so "active", "refuted" or "entered-in-error" read the same
whatever the source; which statuses count as active is the rules' business, not the edge's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..records import Concept, ConditionEntry
from ._values import concept_of, date_text, resource_ref, status_code

# When the condition was recorded, in the spelling of each version (R4, STU3, DSTU2), then its onset.
_RECORDED_FIELDS = ("recordedDate", "assertedDate", "dateRecorded", "onsetDateTime")
_NO_CODE = Concept()


def condition_entries(
    resources: Iterable[Any] | None, *, wanted: Callable[[Concept], bool] | None = None
) -> list[ConditionEntry]:
    """The Conditions among `resources`; other types and non-objects are skipped.

    `wanted`, when given, sees the code first and a Condition it rejects is not read further.
    A Condition without a code is kept with an empty Concept (no rule will recognise it, but it
    is still a Condition the caller may count).
    """
    entries: list[ConditionEntry] = []
    for position, raw in enumerate(resources or ()):
        if not isinstance(raw, dict) or raw.get("resourceType") != "Condition":
            continue
        code = concept_of(raw.get("code")) or _NO_CODE
        if wanted is not None and not wanted(code):
            continue
        entries.append(
            ConditionEntry(
                ref=resource_ref(raw, position),
                code=code,
                clinical_status=status_code(raw.get("clinicalStatus")),
                verification_status=status_code(raw.get("verificationStatus")),
                recorded=_recorded(raw),
                abatement=_abatement(raw),
            )
        )
    return entries


def _recorded(raw: dict[str, Any]) -> str | None:
    """When the condition was recorded (or, failing that, began), as written."""
    for field in _RECORDED_FIELDS:
        value = date_text(raw.get(field))
        if value is not None:
            return value
    return None


def _abatement(raw: dict[str, Any]) -> str | None:
    """When the condition abated, as written: abatementDateTime, abatementPeriod.end (or start),
    or "true" for abatementBoolean true (STU3, DSTU2). An age, range or string cannot be placed in
    time and gives None (the condition is then judged by its clinical status alone)."""
    value = date_text(raw.get("abatementDateTime"))
    if value is None:
        period = raw.get("abatementPeriod")
        if isinstance(period, dict):
            value = date_text(period.get("end")) or date_text(period.get("start"))
    if value is None and raw.get("abatementBoolean") is True:
        value = "true"
    return value
