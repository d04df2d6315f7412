"""Laboratory Observations of every FHIR version -> `ObservationEntry` records.

A prefetch of labs can hold hundreds of results of which a rule reads two tests, so `wanted` sees
the code before anything else is parsed. Results that were withdrawn (`entered-in-error`,
`cancelled`) are dropped here: they are not results. Values reported as text with a comparator
("<60", ">90 mL/min/1.73m2", common for eGFR) keep their number and their comparator, so a rule can
tell "below 60" from "exactly 60".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ..records import Concept, ObservationEntry
from ._values import as_list, code_text, concept_of, concepts_of, get, instant_of, number, resource_ref, text

_WITHDRAWN = frozenset({"entered-in-error", "cancelled"})
_COMPARATORS = frozenset({"<", "<=", ">=", ">"})
# "<60", "> 90", ">=1.5 mg/dL", "45": comparator, number, optional unit.
_VALUE_TEXT = re.compile(r"\s*(<=|>=|<|>)?\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(\S.*?)?\s*")
_NO_CODE = Concept()


def observation_entries(
    resources: Iterable[Any] | None, *, wanted: Callable[[Concept], bool] | None = None
) -> list[ObservationEntry]:
    """The Observations among `resources` that `wanted` accepts (all when it is None)."""
    entries: list[ObservationEntry] = []
    for position, raw in enumerate(resources or ()):
        if not isinstance(raw, dict) or raw.get("resourceType") != "Observation":
            continue
        code = concept_of(raw.get("code")) or _NO_CODE
        if wanted is not None and not wanted(code):
            continue
        status = text(raw.get("status"))
        if status is not None and status.strip().lower() in _WITHDRAWN:
            continue
        value, unit, comparator = _value(raw)
        low, high = _range(raw.get("referenceRange"))
        entries.append(
            ObservationEntry(
                ref=resource_ref(raw, position),
                code=code,
                value=value,
                unit=unit,
                effective=_effective(raw),
                status=status,
                range_low=low,
                range_high=high,
                interpretation=_interpretation(raw.get("interpretation")),
                comparator=comparator,
            )
        )
    return entries


def _value(raw: dict[str, Any]) -> tuple[float | None, str | None, str | None]:
    """(number, unit, comparator) from valueQuantity, valueInteger or a numeric valueString."""
    quantity = raw.get("valueQuantity")
    if isinstance(quantity, dict):
        comparator = text(quantity.get("comparator"))
        return (
            number(quantity.get("value")),
            code_text(quantity.get("code")) or text(quantity.get("unit")),
            comparator if comparator in _COMPARATORS else None,
        )
    integer = number(raw.get("valueInteger"))
    if integer is not None:
        return integer, None, None
    written = text(raw.get("valueString"))
    match = _VALUE_TEXT.fullmatch(written) if written is not None else None
    if match is None:
        return None, None, None
    return number(match.group(2)), match.group(3), match.group(1)


def _effective(raw: dict[str, Any]) -> datetime | None:
    """When the result applies: effectiveDateTime / effectiveInstant, a period's end (or start), issued."""
    period = raw.get("effectivePeriod")
    for value in (
        raw.get("effectiveDateTime"),
        raw.get("effectiveInstant"),
        get(period, "end"),
        get(period, "start"),
        raw.get("issued"),
    ):
        found = instant_of(value)
        if found is not None:
            return found
    return None


def _range(ranges: Any) -> tuple[float | None, float | None]:
    """The first reference range's low and high values (the one that applies to this patient)."""
    first = next(iter(as_list(ranges)), None)
    return number(get(get(first, "low"), "value")), number(get(get(first, "high"), "value"))


def _interpretation(value: Any) -> tuple[str, ...]:
    """Interpretation codes, upper-cased ("H", "HH", "A"): an array in R4, one concept before."""
    codes = (
        coding.code.strip().upper()
        for concept in concepts_of(value)
        for coding in concept.codings
        if coding.code is not None
    )
    return tuple(dict.fromkeys(codes))
