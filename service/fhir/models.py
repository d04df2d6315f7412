"""Validated reading of draft MedicationRequests with `fhir.resources` (R4B for R4, STU3 for STU3).

Not on the hot path: a hook call reads its drafts with the tolerant reader only
(`service.pipeline` passes `validate=False`). The property tests in tests/fhir show the validated
and the tolerant reading give the same records, so validating every relevant draft cost 13% of a
relevant request for a result that was then thrown away. `medication_entries(..., validate=True)`
and `validated()` remain for callers where the verdict itself is wanted.

Validation costs 0.13-0.2 ms per MedicationRequest, 5-10x the tolerant reading
(tests/fhir/test_fhir_performance.py checks the ratio): a 1,000-resource prefetch could never
afford it. Importing
the model classes costs ~0.2 s and building the first validator another ~20 ms: `warm_up()` pays
both at start-up rather than on the first request. fhir.resources 8 has no DSTU2 models, so DSTU2
is never validated.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from .versions import R4, STU3

# (FHIR version, resourceType) -> module and class in fhir.resources. R4 resources are validated
# against R4B, which fhir.resources ships in place of R4; MedicationRequest did not change between them.
_MODELS: dict[tuple[str, str], tuple[str, str]] = {
    (R4, "MedicationRequest"): ("fhir.resources.R4B.medicationrequest", "MedicationRequest"),
    (STU3, "MedicationRequest"): ("fhir.resources.STU3.medicationrequest", "MedicationRequest"),
}


@cache
def _model_class(version: str, kind: str) -> type[BaseModel] | None:
    """The model class for a version and resource type, imported on first use."""
    target = _MODELS.get((version, kind))
    if target is None:
        return None
    module = importlib.import_module(target[0])
    model: type[BaseModel] = getattr(module, target[1])
    return model


@cache
def list_fields(version: str, kind: str) -> frozenset[str]:
    """The elements of `kind` that are arrays in `version` (from the fhir.resources model), so a
    resource the service sends back can turn a client's single object into the array the version
    requires (the CDS Hooks sandbox sends `category` and `reasonCode` as single objects)."""
    model = _model_class(version, kind)
    if model is None:
        return frozenset()
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if not name.endswith("__ext")
        and name != "fhir_comments"
        and any(get_origin(arg) is list for arg in (info.annotation, *get_args(info.annotation)))
    )


def has_model(version: str, kind: str) -> bool:
    """True when `kind` in `version` can be validated (without importing anything)."""
    return (version, kind) in _MODELS


def validated(resource: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The validated model's content as a JSON-shaped dict, or None when the resource is not valid.

    Any failure means "not valid here": the caller falls back to the tolerant reader, which is built
    for the loose shapes that fail validation, so no validation error is ever surfaced.
    """
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or _surely_invalid(resource, version):
        return None
    model = _model_class(version, kind)
    if model is None:
        return None
    try:
        return content(model.model_validate(resource))
    except Exception:  # pydantic's ValidationError, or anything a hostile value provokes in a validator
        return None


# MedicationRequest elements required (1..1) in both STU3 and R4; medication[x] is checked apart.
_REQUIRED = ("status", "intent", "subject")
# Repeating elements that loose clients send as one object (R4 `category` repeats; STU3's does not).
_REPEATING = {R4: ("category", "reasonCode", "dosageInstruction"), STU3: ("reasonCode", "dosageInstruction")}


def _surely_invalid(resource: dict[str, Any], version: str) -> bool:
    """True when a cheap look proves the resource invalid, so validation need not run to say so.

    A failing validation costs more than a passing one (pydantic builds an error for every problem),
    and the sandbox's drafts fail it on every call: a missing `intent` on the first call, a single
    `category` object after that. Only what the specification requires is checked here, so a valid
    resource is never turned away.
    """
    if any(field not in resource for field in _REQUIRED):
        return True
    if "medicationCodeableConcept" not in resource and "medicationReference" not in resource:
        return True
    present = (resource.get(field) for field in _REPEATING.get(version, ()))
    return any(value is not None and not isinstance(value, list) for value in present)


def content(model: BaseModel) -> dict[str, Any]:
    """A model's fields, by their FHIR names, holding the model's own typed values.

    Unlike `model_dump()` (about 0.4 ms for a MedicationRequest, and it turns values back into
    JSON spellings) this keeps what validation produced (Decimal, date, datetime) and costs a tenth
    of that, so the readers see exactly what the model understood. Primitive extensions (`_status`)
    and comments carry nothing the readers use and are left out. Resources (the root, contained
    ones) get their `resourceType` back: the models keep it on the class, not as a field.
    """
    out: dict[str, Any] = {}
    has_resource_base = getattr(model, "has_resource_base", None)
    if has_resource_base is not None and has_resource_base():
        out["resourceType"] = model.get_resource_type()  # type: ignore[attr-defined]
    fields = type(model).model_fields
    for name in model.model_fields_set:
        value = getattr(model, name, None)
        if value is None or name.endswith("__ext") or name == "fhir_comments":
            continue
        info = fields.get(name)
        out[info.alias if info is not None and info.alias else name] = _content_of(value)
    return out


def _content_of(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return content(value)
    if isinstance(value, list):
        return [_content_of(item) for item in value]
    return value


def warm_up() -> None:
    """Import every model and validate one minimal resource with each, so no request pays for it."""
    for version, kind in _MODELS:
        validated(
            {
                "resourceType": kind,
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/warm-up"},
                "medicationCodeableConcept": {"text": "warm-up"},
            },
            version,
        )
