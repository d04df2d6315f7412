"""FHIR resources for card suggestions, in the FHIR version and resource type of the draft.

A DSTU2 MedicationOrder draft gets a MedicationOrder back; new orders use that version's type:
R4 ServiceRequest; STU3 ProcedureRequest (lab panel) or ReferralRequest (referral); DSTU2
DiagnosticOrder (lab panel) or ReferralRequest (referral). Only FHIR structure lives here: the
codes, doses and wording come from cards/orders.yaml and the value sets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .facts import Drug
from .fhir.models import list_fields

UCUM = "http://unitsofmeasure.org"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
LAB_ORDER_TYPE = {"R4": "ServiceRequest", "STU3": "ProcedureRequest", "DSTU2": "DiagnosticOrder"}
REFERRAL_TYPE = {"R4": "ServiceRequest", "STU3": "ReferralRequest", "DSTU2": "ReferralRequest"}


def _route_concept(knowledge: Any, route: str) -> dict[str, Any] | None:
    routes = next((vs for vs in knowledge.valuesets.values() if vs["kind"] == "route"), None)
    group = (routes or {}).get("groups", {}).get(route, {})
    codes = [c for c in group.get("codes", []) if c.get("display")]
    if not codes:
        return None
    c = codes[0]
    return {"coding": [{"system": c["system"], "code": c["code"], "display": c["display"]}], "text": route}


def _dosage(version: str, replacement: Mapping[str, Any], knowledge: Any) -> dict[str, Any]:
    timing = replacement["timing"]
    repeat: dict[str, Any] = {"frequency": timing["frequency"], "period": timing["period"]}
    if "period_max" in timing:
        repeat["periodMax"] = timing["period_max"]
    repeat["periodUnits" if version == "DSTU2" else "periodUnit"] = timing["period_unit"]
    dose = replacement["dose"]
    quantity = {"value": dose["value"], "unit": dose["unit"], "system": UCUM, "code": dose["unit"]}
    dosage: dict[str, Any] = {"text": replacement["text"], "timing": {"repeat": repeat}}
    if replacement.get("as_needed"):
        dosage["asNeededBoolean"] = True
    route = _route_concept(knowledge, replacement["route"])
    if route:
        dosage["route"] = route
    if version == "R4":
        dosage["doseAndRate"] = [{"doseQuantity": quantity}]
    else:
        dosage["doseQuantity"] = quantity
    return dosage


def _addressable(draft: Drug) -> bool:
    """A suggestion can only act on a draft the client can find again: one with a valid FHIR id."""
    return bool(draft.entry.raw) and bool(_FHIR_ID.match(draft.entry.resource_id or ""))


def replace_draft(draft: Drug, replacement: Mapping[str, Any], knowledge: Any) -> dict[str, Any] | None:
    """An `update` action changing the draft's drug and dose; None when the draft has no valid id."""
    raw = draft.entry.raw
    if not _addressable(draft):
        return None
    # Only top-level keys are replaced below, so a shallow copy leaves the client's draft intact.
    resource = dict(raw)
    resource.pop("medicationReference", None)
    for name in list_fields(draft.entry.fhir_version, str(raw.get("resourceType"))):
        if isinstance(resource.get(name), dict):  # a loose client's single object: the array it stands for
            resource[name] = [resource[name]]
    med = replacement["medication"]
    resource["medicationCodeableConcept"] = {
        "text": med["text"],
        "coding": [{"system": med["system"], "code": med["code"], "display": med["display"]}],
    }
    resource["dosageInstruction"] = [_dosage(draft.entry.fhir_version, replacement, knowledge)]
    return {
        "type": "update",
        "description": f"Change the draft order to {med['text']}: {replacement['text']}",
        "resource": resource,
    }


def remove_drafts(drafts: list[Drug], names: str) -> list[dict[str, Any]]:
    """`delete` actions (by resourceId) for the drafts that have an id."""
    return [
        {"type": "delete", "description": f"Remove the draft order for {names}", "resourceId": d.entry.ref}
        for d in drafts
        if _addressable(d)
    ]


def _subject(version: str, patient_id: str | None) -> dict[str, Any]:
    reference = {"reference": f"Patient/{patient_id}"} if patient_id else {}
    return {"patient": reference} if version == "DSTU2" and reference else {"subject": reference}


def lab_order(
    version: str, knowledge: Any, spec: Mapping[str, Any], patient_id: str | None
) -> dict[str, Any]:
    codes = knowledge.valuesets[spec["valueset"]]["codes"]
    primary = next((c for c in codes if c.get("primary")), codes[0])
    code = {
        "coding": [{"system": primary["system"], "code": primary["code"], "display": primary["display"]}],
        "text": spec["text"],
    }
    resource_type = LAB_ORDER_TYPE[version]
    resource: dict[str, Any] = {"resourceType": resource_type, "status": "draft"}
    if version == "DSTU2":
        resource["subject"] = {"reference": f"Patient/{patient_id}"} if patient_id else {}
        resource["item"] = [{"code": code}]
    else:
        resource.update({"intent": "order", "code": code, "subject": {"reference": f"Patient/{patient_id}"}})
    return {"type": "create", "description": f"Order: {spec['text']}", "resource": resource}


def referral(version: str, spec: Mapping[str, Any], patient_id: str | None) -> dict[str, Any]:
    resource_type = REFERRAL_TYPE[version]
    service = {"text": spec["text"]}
    reason = {"text": spec["reason"]}
    resource: dict[str, Any] = {"resourceType": resource_type, "status": "draft"}
    if version == "R4":
        resource.update({"intent": "order", "code": service, "reasonCode": [reason]})
        resource.update(_subject(version, patient_id))
    elif version == "STU3":
        resource.update({"intent": "order", "serviceRequested": [service], "description": spec["reason"]})
        resource.update(_subject(version, patient_id))
    else:
        resource.update({"serviceRequested": [service], "reason": reason, "description": spec["text"]})
        resource.update(_subject(version, patient_id))
    return {"type": "create", "description": spec["text"], "resource": resource}
