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
from ._values import as_list, code_text, coding_nodes, concept_of, get, instant_of, number, resource_ref, text

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
    """When the result applies: effectiveDateTime / effectiveInstant, a period's end (or start), issued.

    Tried in that order, each read only if the ones before give nothing (most results have the first).
    """
    found = instant_of(raw.get("effectiveDateTime"))
    if found is not None:
        return found
    found = instant_of(raw.get("effectiveInstant"))
    if found is not None:
        return found
    period = raw.get("effectivePeriod")
    if isinstance(period, dict):
        found = instant_of(period.get("end")) or instant_of(period.get("start"))
        if found is not None:
            return found
    return instant_of(raw.get("issued"))


def _range(ranges: Any) -> tuple[float | None, float | None]:
    """The first reference range's low and high values (the one that applies to this patient)."""
    first = _first_object(ranges)
    if first is None:
        return None, None
    return number(get(first.get("low"), "value")), number(get(first.get("high"), "value"))


def _first_object(value: Any) -> dict[str, Any] | None:
    """The first object of a repeating element (`as_list(value)[0]`), without building the list."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                return item
    return None


def _interpretation(value: Any) -> tuple[str, ...]:
    """Interpretation codes, upper-cased ("H", "HH", "A"): an array in R4, one concept before.

    The codes of the codings `concepts_of` would read (a CodeableConcept's `coding`, or a bare
    Coding sent in its place), read straight from the dicts: no concept is needed for a code.
    """
    if value is None:
        return ()
    codes: list[str] = []
    for concept in as_list(value):
        for node in coding_nodes(concept):
            code = code_text(node.get("code")) if isinstance(node, dict) else None
            if code is not None:
                codes.append(code.strip().upper())
    return tuple(dict.fromkeys(codes))
