"""The five draft orders every regression patient gets, written the way EHRs write them.

Each drug has a few realistic oral regimens (and, on purpose, one above the labelled maximum for
the antispastics, a prescribing error the service exists to catch); a patient gets one of them,
chosen by a hash of the patient's file name so the run is deterministic and the regimens spread over the
population. Doses are written in several shapes real EHRs send: mg with `timing.repeat`, a count
of tablets of a product whose strength the code tells, an HL7 `timing.code` (BID, TID, QD, HS)
without `repeat`, and `asNeeded` with the interval. The oracle reads `daily_mg` and `reason`
from the `Regimen` itself, never from the service's reading of the FHIR.

Codes: RxNorm codes from cards/valuesets (baclofen, tizanidine, dantrolene, diazepam: each with
its public source there) and amlodipine 197361 as Synthea itself prescribes it in this data set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
ORAL = {
    "coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}],
    "text": "Oral",
}
TIMING_SYSTEM = {
    "R4": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation",
    "STU3": "http://hl7.org/fhir/timing-abbreviation",
    "DSTU2": "http://hl7.org/fhir/timing-abbreviation",
}


@dataclass(frozen=True)
class Regimen:
    key: str
    ingredient: str  # baclofen | tizanidine | dantrolene | diazepam | amlodipine
    code: str
    display: str
    dose: float
    unit: str  # "mg", or a count unit ("{tbl}", "{cap}") converted with the product's strength
    daily_mg: float  # what the prescriber means per day: the oracle's dose
    frequency: int = 1
    period: float = 1
    period_unit: str = "d"
    timing_code: str | None = None  # HL7 abbreviation sent instead of `repeat`
    as_needed: bool = False
    reason: str | None = None  # free-text reason on the order


REGIMENS: dict[str, tuple[Regimen, ...]] = {
    "baclofen": (
        Regimen(
            "baclofen-5mg-tid", "baclofen", "197391", "Baclofen 10 MG Oral Tablet", 5, "mg", 15, frequency=3
        ),
        Regimen(
            "baclofen-1tab10-bid-code",
            "baclofen",
            "197391",
            "Baclofen 10 MG Oral Tablet",
            1,
            "{tbl}",
            20,
            timing_code="BID",
        ),
        Regimen(
            "baclofen-20mg-qid", "baclofen", "197392", "Baclofen 20 MG Oral Tablet", 20, "mg", 80, frequency=4
        ),
        Regimen(
            "baclofen-1tab20-5x-overmax",
            "baclofen",
            "197392",
            "Baclofen 20 MG Oral Tablet",
            1,
            "{tbl}",
            100,
            frequency=5,
        ),
    ),
    "tizanidine": (
        Regimen(
            "tizanidine-2mg-q8h-prn",
            "tizanidine",
            "313412",
            "tizanidine 2 MG Oral Tablet",
            2,
            "mg",
            6,
            period=8,
            period_unit="h",
            as_needed=True,
        ),
        Regimen(
            "tizanidine-1tab4-tid-code",
            "tizanidine",
            "313413",
            "tizanidine 4 MG Oral Tablet",
            1,
            "{tbl}",
            12,
            timing_code="TID",
        ),
        Regimen(
            "tizanidine-12mg-tid",
            "tizanidine",
            "313413",
            "tizanidine 4 MG Oral Tablet",
            12,
            "mg",
            36,
            frequency=3,
        ),
        Regimen(
            "tizanidine-16mg-tid-overmax",
            "tizanidine",
            "313413",
            "tizanidine 4 MG Oral Tablet",
            16,
            "mg",
            48,
            frequency=3,
        ),
    ),
    "dantrolene": (
        Regimen(
            "dantrolene-25mg-qd-code",
            "dantrolene",
            "856656",
            "Dantrolene Sodium 25 MG Oral Capsule",
            25,
            "mg",
            25,
            timing_code="QD",
        ),
        Regimen(
            "dantrolene-1cap50-tid",
            "dantrolene",
            "856660",
            "Dantrolene Sodium 50 MG Oral Capsule",
            1,
            "{cap}",
            150,
            frequency=3,
        ),
        Regimen(
            "dantrolene-100mg-qid",
            "dantrolene",
            "856652",
            "Dantrolene Sodium 100 MG Oral Capsule",
            100,
            "mg",
            400,
            frequency=4,
        ),
        Regimen(
            "dantrolene-150mg-tid-overmax",
            "dantrolene",
            "856652",
            "Dantrolene Sodium 100 MG Oral Capsule",
            150,
            "mg",
            450,
            frequency=3,
        ),
    ),
    "diazepam": (
        Regimen(
            "diazepam-5mg-bid", "diazepam", "197591", "Diazepam 5 MG Oral Tablet", 5, "mg", 10, frequency=2
        ),
        Regimen(
            "diazepam-2mg-tid-spasm",
            "diazepam",
            "197590",
            "Diazepam 2 MG Oral Tablet",
            2,
            "mg",
            6,
            frequency=3,
            reason="Muscle spasm",
        ),
        Regimen(
            "diazepam-5mg-hs-anxiety",
            "diazepam",
            "197591",
            "Diazepam 5 MG Oral Tablet",
            5,
            "mg",
            5,
            timing_code="HS",
            reason="Anxiety",
        ),
        Regimen(
            "diazepam-1tab5-tid",
            "diazepam",
            "197591",
            "Diazepam 5 MG Oral Tablet",
            1,
            "{tbl}",
            15,
            frequency=3,
        ),
    ),
    "amlodipine": (
        Regimen(
            "amlodipine-5mg-qd-code",
            "amlodipine",
            "197361",
            "Amlodipine 5 MG Oral Tablet",
            5,
            "mg",
            5,
            timing_code="QD",
        ),
        Regimen(
            "amlodipine-2tab5-daily", "amlodipine", "197361", "Amlodipine 5 MG Oral Tablet", 2, "{tbl}", 10
        ),
    ),
}
DRUGS = tuple(REGIMENS)


def regimen_for(person: str, drug: str) -> Regimen:
    """The regimen a person gets for a drug: fixed by a hash of the person's key (their file name,
    the same for one synthetic person in STU3 and DSTU2)."""
    choices = REGIMENS[drug]
    digest = hashlib.sha256(f"{person}:{drug}".encode()).digest()
    return choices[digest[0] % len(choices)]


def _quantity(regimen: Regimen) -> dict[str, Any]:
    return {"value": regimen.dose, "unit": regimen.unit, "system": UCUM, "code": regimen.unit}


def _timing(regimen: Regimen, version: str) -> dict[str, Any]:
    if regimen.timing_code:
        code = regimen.timing_code
        return {"code": {"coding": [{"system": TIMING_SYSTEM[version], "code": code}], "text": code}}
    unit_key = "periodUnits" if version == "DSTU2" else "periodUnit"
    return {
        "repeat": {"frequency": regimen.frequency, "period": regimen.period, unit_key: regimen.period_unit}
    }


def _dosage(regimen: Regimen, version: str) -> dict[str, Any]:
    dosage: dict[str, Any] = {
        "text": f"{regimen.dose:g} {regimen.unit} {regimen.timing_code or ''}".strip(),
        "timing": _timing(regimen, version),
        "route": ORAL,
    }
    if regimen.as_needed:
        dosage["asNeededBoolean"] = True
    if version == "R4":
        dosage["doseAndRate"] = [{"doseQuantity": _quantity(regimen)}]
    else:
        dosage["doseQuantity"] = _quantity(regimen)
    return dosage


def build_draft(
    regimen: Regimen,
    version: str,
    *,
    patient_id: str,
    authored: str,
    draft_id: str,
    use_reference: bool = False,
) -> dict[str, Any]:
    """One draft order in the patient's FHIR version (R4/STU3 MedicationRequest, DSTU2
    MedicationOrder). `use_reference`: name the product by a contained Medication (STU3 style)."""
    concept = {
        "coding": [{"system": RXNORM, "code": regimen.code, "display": regimen.display}],
        "text": regimen.display,
    }
    subject = {"reference": f"Patient/{patient_id}"}
    draft: dict[str, Any]
    if version == "DSTU2":
        draft = {
            "resourceType": "MedicationOrder",
            "id": draft_id,
            "status": "draft",
            "patient": subject,
            "dateWritten": authored[:10],
        }
    else:
        draft = {
            "resourceType": "MedicationRequest",
            "id": draft_id,
            "status": "draft",
            "intent": "order",
            "subject": subject,
            "authoredOn": authored[:10],
        }
    if use_reference and version != "DSTU2":
        draft["contained"] = [{"resourceType": "Medication", "id": "med", "code": concept}]
        draft["medicationReference"] = {"reference": "#med", "display": regimen.display}
    else:
        draft["medicationCodeableConcept"] = concept
    draft["dosageInstruction"] = [_dosage(regimen, version)]
    if regimen.reason:
        if version == "DSTU2":
            draft["reasonCodeableConcept"] = {"text": regimen.reason}
        else:
            draft["reasonCode"] = [{"text": regimen.reason}]
    return draft
