"""Medication orders and statements of every FHIR version -> `MedicationEntry` records.

Three resource types say "this patient gets / takes this drug": MedicationRequest (STU3, R4),
MedicationOrder (DSTU2) and MedicationStatement (all). Their fields moved between versions
(`doseAndRate` in R4 vs a dose on the dosage before, `periodUnits` in DSTU2, `reasonCodeableConcept`
vs `reasonCode`, `wasNotTaken` vs `taken` vs status `not-taken`); this module is the one place that
knows, so the rules read one record shape.

Draft MedicationRequests are validated with fhir.resources first (see `models`): a valid draft is
read from the model's content, an invalid one (the sandbox's loose shapes) from its dict. Both go
through the same readers, which is what keeps the two paths equal (a property test proves it).
Prefetched records skip validation: it costs ten times the reading (see `models`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..records import Coding, Concept, Dosage, MedicationEntry
from . import models
from ._values import (
    as_list,
    code_text,
    concept_of,
    concepts_of,
    date_text,
    flag,
    get,
    number,
    reference_of,
    resource_ref,
    text,
)
from .versions import majority, normalise_version, settle, strong_version

log = logging.getLogger(__name__)

MEDICATION_TYPES = frozenset({"MedicationRequest", "MedicationOrder", "MedicationStatement"})
_REASON_TARGETS = ("Condition", "Observation")
# Where each type keeps its dosage: orders instruct, statements report.
_DOSAGE_FIELD = {
    "MedicationRequest": "dosageInstruction",
    "MedicationOrder": "dosageInstruction",
    "MedicationStatement": "dosage",
}
# When the order was written / the statement asserted, in the spelling of each version.
_AUTHORED_FIELDS = ("authoredOn", "dateWritten", "dateAsserted", "effectiveDateTime")


class References:
    """Resolves the references of one resource: contained, then the same Bundle, then prefetch.

    The Bundle index is built on the first reference that needs it, so a batch without references
    (the usual prefetch) never pays for it.
    """

    def __init__(self, resources: Iterable[Any], medications: Mapping[str, Any]) -> None:
        self._resources = resources
        self._medications = medications
        self._bundle: dict[str, dict[str, Any]] | None = None

    def resolve(self, reference: str | None, node: Mapping[str, Any], kinds: tuple[str, ...]) -> Any:
        """The resource `reference` (from `node`) points at if it is one of `kinds`; None if not found."""
        if reference is None:
            return None
        if reference.startswith("#"):
            target = _contained(node, reference[1:])
            if target is None:
                target = self._medications.get(reference)
        else:
            target = self._bundle_index().get(reference)
            if target is None:
                target = self._medications.get(reference)
        if isinstance(target, dict) and target.get("resourceType") in kinds:
            return target
        return None

    def _bundle_index(self) -> dict[str, dict[str, Any]]:
        if self._bundle is None:
            self._bundle = {}
            for resource in self._resources:
                if isinstance(resource, dict) and text(resource.get("id")) is not None:
                    self._bundle.setdefault(resource_ref(resource, 0), resource)
        return self._bundle


def medication_entries(
    resources: Iterable[Any] | None,
    *,
    origin: str,
    medications: Mapping[str, Any],
    hint: str | None = None,
    validate: bool | None = None,
    wanted: Callable[[Concept | None], bool] | None = None,
) -> list[MedicationEntry]:
    """The medication orders and statements among `resources`, as records; other types are skipped.

    origin: "draft" or "record", passed through. medications: Medication resources keyed
    "Medication/<id>" (see `medication_index`), used after contained and same-Bundle resources to
    resolve `medicationReference`. hint: the FHIR version of the source (e.g. the server's), used
    when a resource's own structure does not settle it; sibling resources with clear evidence are
    the next-best hint. validate: read valid MedicationRequests through fhir.resources models;
    by default only for drafts (see `models` for why not for records). wanted: sees the drug first;
    a resource it rejects is not read further (a long history is mostly drugs no rule is about).
    """
    items = list(resources or ())
    references = References(items, medications)
    # (position, resource, its drug as `wanted` saw it): read again only from a validated model.
    candidates: list[tuple[int, dict[str, Any], Concept | None | _Unread]] = []
    for position, raw in enumerate(items):
        if not isinstance(raw, dict) or not _is_medication(raw.get("resourceType")):
            continue
        if wanted is None:
            candidates.append((position, raw, _UNREAD))
            continue
        drug = _medication(raw, references)
        if wanted(drug):
            candidates.append((position, raw, drug))
    found = [(position, raw, known, strong_version(raw)) for position, raw, known in candidates]
    batch_hint = normalise_version(hint) or majority(strong for *_, strong in found)
    use_models = (origin == "draft") if validate is None else validate
    entries: list[MedicationEntry] = []
    for position, raw, known, strong in found:
        version = settle(raw, strong, batch_hint)
        node = raw
        if use_models and models.has_model(version, raw["resourceType"]):
            node = models.validated(raw, version) or raw
        try:
            entries.append(
                read_medication(
                    node,
                    raw,
                    position=position,
                    version=version,
                    origin=origin,
                    references=references,
                    medication=known if node is raw else _UNREAD,
                )
            )
        except (TypeError, ValueError, AttributeError, RecursionError):  # pragma: no cover - safety net
            log.warning("skipped unreadable %s", resource_ref(raw, position), exc_info=True)
    return entries


def _is_medication(kind: Any) -> bool:
    return isinstance(kind, str) and kind in MEDICATION_TYPES


class _Unread:
    """The type of `_UNREAD`: "the drug has not been read yet" (None means "there is no drug")."""


_UNREAD = _Unread()


def read_medication(
    node: Mapping[str, Any],
    raw: Mapping[str, Any],
    *,
    position: int,
    version: str,
    origin: str,
    references: References,
    medication: Concept | None | _Unread = _UNREAD,
) -> MedicationEntry:
    """One record from `node` (the dict itself, or its validated model's content); `raw` is the dict.

    `authored` is taken from `raw` as written: a model turns dates into Python values and would
    respell them ("…T10:00:00.120+01:00" comes back with six fractional digits). `medication`: the
    drug when the caller has already read it from `node` (to decide whether to read the rest).
    """
    kind = str(raw["resourceType"])
    status = text(node.get("status"))
    dosages = []
    for element in as_list(node.get(_DOSAGE_FIELD[kind])):
        dosage = _dosage(element)
        if dosage is not None:
            dosages.append(dosage)
    based_on = [reference_of(r) for r in as_list(node.get("basedOn"))]
    based_on += [reference_of(r) for r in as_list(node.get("derivedFrom"))]
    return MedicationEntry(
        ref=resource_ref(raw, position),
        resource_type=kind,
        fhir_version=version,
        origin=origin,
        status=status,
        medication=_medication(node, references) if isinstance(medication, _Unread) else medication,
        dosages=tuple(dosages),
        do_not_perform=_not_given(node, status),
        reasons=_reasons(node, references),
        authored=_authored(raw),
        based_on=tuple(dict.fromkeys(r for r in based_on if r is not None)),
        raw=raw,
    )


def _medication(node: Mapping[str, Any], references: References) -> Concept | None:
    """The drug: medicationCodeableConcept, else the code of the referenced Medication, else its display."""
    concept = concept_of(node.get("medicationCodeableConcept"))
    if concept is not None:
        return concept
    pointer = node.get("medicationReference")
    if not isinstance(pointer, dict):
        return None
    target = references.resolve(reference_of(pointer), node, ("Medication",))
    concept = concept_of(target.get("code")) if target is not None else None
    if concept is not None:
        return concept
    concept = _ingredients_concept(target) if target is not None else None
    if concept is not None:
        return concept
    display = text(pointer.get("display"))
    return Concept(text=display) if display is not None else None


def _dosage(node: Any) -> Dosage | None:
    """One dosage instruction as written; None when it says nothing at all."""
    if not isinstance(node, dict):
        return None
    dose_value, dose_unit = _dose(node)
    repeat = get(node.get("timing"), "repeat")
    if not isinstance(repeat, dict):
        repeat = _NOTHING
    as_needed = (
        flag(node.get("asNeededBoolean"))
        or ("asNeededCodeableConcept" in node and concept_of(node["asNeededCodeableConcept"]) is not None)
        or flag(node.get("asNeeded"))
    )
    period = number(repeat.get("period"))
    frequency = number(repeat.get("frequency"))
    most = number(repeat.get("frequencyMax"))
    if as_needed and most is not None:
        frequency = most  # as-needed doses count at their maximum
    elif frequency is None:
        frequency = most if most is not None else (1.0 if period is not None else None)
    dosage = Dosage(
        dose_value=dose_value,
        dose_unit=dose_unit,
        frequency=frequency,
        period=period,
        period_unit=code_text(repeat.get("periodUnit")) or code_text(repeat.get("periodUnits")),
        as_needed=as_needed,
        route=concept_of(node.get("route")),
        text=text(node.get("text")),
        timing_code=_timing_code(node.get("timing")) if repeat is _NOTHING else None,
    )
    return dosage if dosage != _EMPTY_DOSAGE else None  # None: it says nothing at all


def _timing_code(timing: Any) -> str | None:
    """Timing.code (an HL7 timing abbreviation such as BID): its first coding's code, else its text."""
    concept = concept_of(get(timing, "code"))
    if concept is None:
        return None
    code = next((c.code for c in concept.codings if c.code), None) or concept.text
    return code.strip().upper() if code else None


_EMPTY_DOSAGE = Dosage()
_NOTHING: dict[str, Any] = {}


def _dose(node: dict[str, Any]) -> tuple[float | None, str | None]:
    """(value, unit) from R4 doseAndRate, else a dose on the dosage (STU3, DSTU2), else DSTU2 quantity[x]."""
    for element in as_list(node.get("doseAndRate")):
        found = _amount(element.get("doseQuantity"), element.get("doseRange"))
        if found is not None:
            return found
    found = _amount(node.get("doseQuantity"), node.get("doseRange"))
    if found is None:
        found = _amount(node.get("quantityQuantity"), node.get("quantityRange"))
    return found or (None, None)


def _amount(quantity: Any, range_: Any) -> tuple[float | None, str | None] | None:
    """A Quantity's value and unit, or a Range's high bound (a range counts at its maximum).

    None when neither says anything, so the next place a dose may be written is tried.
    """
    if not isinstance(quantity, dict):
        quantity = get(range_, "high")
        if not isinstance(quantity, dict):
            return None
    value = number(quantity.get("value"))
    unit = code_text(quantity.get("code")) or text(quantity.get("unit"))
    return (value, unit) if value is not None or unit is not None else None


def _not_given(node: Mapping[str, Any], status: str | None) -> bool:
    """The resource negates the drug: R4 doNotPerform, or a statement that it is not taken.

    MedicationStatement says so as DSTU2 `wasNotTaken: true`, STU3 `taken: "n"` and R4 status
    `not-taken`; MedicationRequest as R4 `doNotPerform: true`.
    """
    if flag(node.get("doNotPerform")) or flag(node.get("wasNotTaken")):
        return True
    taken = code_text(node.get("taken"))
    if taken is not None and taken.lower() == "n":
        return True
    return status is not None and status.lower() == "not-taken"


def _reasons(node: Mapping[str, Any], references: References) -> tuple[Concept, ...]:
    """Coded reasons, then referenced ones (the Condition's code, or else the reference's display)."""
    found: list[Concept] = list(concepts_of(node.get("reasonCode")))
    for field in ("reasonCodeableConcept", "reasonForUseCodeableConcept"):
        concept = concept_of(node.get(field)) if field in node else None
        if concept is not None:
            found.append(concept)
    for field in ("reasonReference", "reasonForUseReference"):
        if field not in node:
            continue
        for pointer in as_list(node[field]):
            target = references.resolve(reference_of(pointer), node, _REASON_TARGETS)
            concept = concept_of(target.get("code")) if target is not None else None
            if concept is None:
                display = text(pointer.get("display"))
                concept = Concept(text=display) if display is not None else None
            if concept is not None:
                found.append(concept)
    return tuple(found)


REASON_REFERENCE_FIELDS = ("reasonReference", "reasonForUseReference")


def with_referenced_reasons(
    entries: Sequence[MedicationEntry], references: References
) -> list[MedicationEntry]:
    """`entries` with the reasons that point at other resources read again through `references`.

    Drafts are read before the patient's record is fetched (to learn whether any rule is about
    them); a reasonReference to a Condition on the problem list resolves only once the record is
    here. Only the entries that carry such a reference are touched: each is otherwise as read.
    """
    return [
        replace(entry, reasons=_reasons(entry.raw, references)) if has_reason_reference(entry) else entry
        for entry in entries
    ]


def has_reason_reference(entry: MedicationEntry) -> bool:
    """The entry gives a reason by pointing at another resource (what `with_referenced_reasons` reads)."""
    return any(field in entry.raw for field in REASON_REFERENCE_FIELDS)


def _authored(raw: Mapping[str, Any]) -> str | None:
    """When the order was written or the statement made, as written; a statement's period start last."""
    for field in _AUTHORED_FIELDS:
        value = date_text(raw.get(field))
        if value is not None:
            return value
    return date_text(get(raw.get("effectivePeriod"), "start"))


def _contained(node: Mapping[str, Any], ident: str) -> Any:
    """The contained resource with this id (references to it are written "#id")."""
    for item in as_list(node.get("contained")):
        if item.get("id") == ident:
            return item
    return None


def _ingredients_concept(medication: Mapping[str, Any]) -> Concept | None:
    """A Medication known only by its ingredients (a compounded product): one concept holding every
    ingredient's codings and names, so that it is recognised by its ingredients.

    R4 `ingredient[].itemCodeableConcept`, STU3 the same, DSTU2 `product.ingredient[].item` (a
    Reference whose display may name the substance). An ingredient given only as a reference to a
    Substance with no display cannot be read and is skipped.
    """
    ingredients = as_list(medication.get("ingredient")) or as_list(
        get(medication.get("product"), "ingredient")
    )
    codings: list[Coding] = []
    names: list[str] = []
    for ingredient in ingredients:
        item = concept_of(ingredient.get("itemCodeableConcept"))
        if item is None:
            reference = ingredient.get("itemReference") or ingredient.get("item")
            display = text(get(reference, "display"))
            item = Concept(text=display) if display else None
        if item is None:
            continue
        codings.extend(item.codings)
        names.extend(w for w in item.words()[:1])
    if not codings and not names:
        return None
    return Concept(codings=tuple(codings), text=" + ".join(names) if names else None)


def unresolved_medication_ids(resources: Iterable[Any] | None, medications: Mapping[str, Any]) -> list[str]:
    """Ids of the Medications that orders and statements among `resources` point at
    (`medicationReference` "Medication/<id>", relative or absolute) but that are neither contained,
    nor in the same Bundle, nor in `medications`: what a FHIR-server fallback must still fetch."""
    items = list(resources or ())
    references = References(items, medications)
    missing: dict[str, None] = {}
    for raw in items:
        if not isinstance(raw, dict) or not _is_medication(raw.get("resourceType")):
            continue
        if "medicationCodeableConcept" in raw:
            continue
        pointer = raw.get("medicationReference")
        target = reference_of(pointer) if isinstance(pointer, dict) else None
        if (
            not target
            or target.startswith("#")
            or references.resolve(target, raw, ("Medication",)) is not None
        ):
            continue
        parts = target.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == "Medication":
            missing[parts[-1]] = None
    return list(missing)
