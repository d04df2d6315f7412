"""Validated reading of draft MedicationRequests with `fhir.resources` (R4B for R4, STU3 for STU3).

Validation is worth its cost only where inputs are few and matter most: the draft orders of a hook
call. It costs about 0.1 ms per MedicationRequest (measured on the dev machine; see
tests/fhir/test_performance.py), which a 1,000-resource prefetch cannot afford inside its 30 ms
budget, so prefetched records go through the tolerant reader only. Importing the model classes
costs ~0.2 s and building the first validator another ~20 ms: `warm_up()` pays both at start-up
rather than on the first request. DSTU2 has no models in fhir.resources 8, so it is never validated.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

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


def has_model(version: str, kind: str) -> bool:
    """True when `kind` in `version` can be validated (without importing anything)."""
    return (version, kind) in _MODELS


def validated(resource: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The validated model's content as a JSON-shaped dict, or None when the resource is not valid.

    Any failure means "not valid here": the caller falls back to the tolerant reader, which is built
    for the loose shapes that fail validation, so no validation error is ever surfaced.
    """
    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        return None
    model = _model_class(version, kind)
    if model is None:
        return None
    try:
        return content(model.model_validate(resource))
    except Exception:  # pydantic's ValidationError, or anything a hostile value provokes in a validator
        return None


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
