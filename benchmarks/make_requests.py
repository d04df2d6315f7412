"""Generate the benchmark's hook requests into benchmarks/requests/ (the JSON is committed).

    .venv/bin/python benchmarks/make_requests.py          # rewrite benchmarks/requests/*.json

Four kinds, each a realistic request for one patient, deterministic (no randomness, fixed dates):

a  amlodipine, order-sign (R4), 50-resource prefetch: an order no rule is about. The service must
   recognise that and answer `{"cards": []}` without reading the prefetch.
b  diazepam for an ALS patient already on baclofen, order-sign (R4), 50-resource prefetch with ALT,
   AST and eGFR results: fires benzodiazepine-spasticity and cns-depressant-combination.
c  the sandbox's DSTU2 order-select shape (cds-hooks.md §8): a MedicationOrder draft `order-123`
   of baclofen in a Bundle without `type`, `selections`, and a DSTU2 prefetch (MedicationOrder,
   DSTU2 Condition / MedicationStatement / Observation) for every key the baclofen rules need, so
   no FHIR call is made.
d  baclofen for an ALS patient with a long history (and diazepam among 250 statements), order-sign
   (R4), 1,000-resource prefetch: fires cns-depressant-combination.

The files are compact JSON, as a client sends them.

Prefetch keys are the service's own (cards/services.yaml). Dates are written relative to
ANCHOR (the day the requests were generated): lab results fall inside the 90-day look-back window
only while the clock is within a few weeks of it, which changes which lab rules fire, not the work
done (every lab of interest is read either way).
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ANCHOR = date(2026, 11, 21)
OUT = Path(__file__).resolve().parent / "requests"
FHIR_SERVER = "http://127.0.0.1:9/fhir"  # discard port: a request that needs a FHIR call fails fast

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ROUTE_ORAL = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}], "text": "oral"}

Resource = dict[str, Any]

# (rxcui, display, dose per administration, unit, times a day): ordinary chronic medications.
OTHER_DRUGS = [
    ("197361", "Amlodipine 5 MG Oral Tablet", 1, "{tbl}", 1),
    ("314076", "Lisinopril 10 MG Oral Tablet", 1, "{tbl}", 1),
    ("617310", "Atorvastatin 20 MG Oral Tablet", 1, "{tbl}", 1),
    ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", 1, "{tbl}", 2),
    ("198053", "Omeprazole 20 MG Delayed Release Oral Capsule", 1, "{cap}", 1),
    ("312940", "Sertraline 50 MG Oral Tablet", 1, "{tbl}", 1),
    ("313782", "Acetaminophen 325 MG Oral Tablet", 2, "{tbl}", 3),
    ("310798", "Hydrochlorothiazide 25 MG Oral Tablet", 1, "{tbl}", 1),
    ("197517", "Clarithromycin 500 MG Oral Tablet", 1, "{tbl}", 2),
    ("311989", "Nitrofurantoin 100 MG Oral Capsule", 1, "{cap}", 2),
    ("849574", "Oxybutynin chloride 5 MG Oral Tablet", 1, "{tbl}", 2),
    ("1049221", "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet", 1, "{tbl}", 4),
    ("866924", "Metoprolol Tartrate 25 MG Oral Tablet", 1, "{tbl}", 2),
    ("855332", "Warfarin Sodium 5 MG Oral Tablet", 1, "{tbl}", 1),
    ("308136", "Amlodipine 2.5 MG Oral Tablet", 1, "{tbl}", 1),
    ("259255", "Atorvastatin 80 MG Oral Tablet", 1, "{tbl}", 1),
    ("1191", "Aspirin", 81, "mg", 1),
    ("199062", "Riluzole 50 MG Oral Tablet", 1, "{tbl}", 2),
]
BACLOFEN = ("197391", "Baclofen 10 MG Oral Tablet", 1, "{tbl}", 3)
DIAZEPAM = ("104700", "Diazepam 5 MG Oral Tablet [Valium]", 1, "{tbl}", 2)
AMLODIPINE_NEW = ("308135", "Amlodipine 10 MG Oral Tablet", 1, "{tbl}", 1)
LIORESAL = ("202109", "Baclofen 10 MG Oral Tablet [Lioresal]", 1, "{pill}", 3)

# (system, code, text): ALS first, then ordinary history.
ALS = (ICD10, "G12.21", "Amyotrophic lateral sclerosis")
ALS_SNOMED = (SNOMED, "86044005", "Amyotrophic lateral sclerosis")
OTHER_CONDITIONS = [
    (ICD10, "I10", "Essential (primary) hypertension"),
    (ICD10, "E78.5", "Hyperlipidemia, unspecified"),
    (ICD10, "E11.9", "Type 2 diabetes mellitus without complications"),
    (ICD10, "K21.9", "Gastro-esophageal reflux disease without esophagitis"),
    (ICD10, "F32.9", "Major depressive disorder, single episode, unspecified"),
    (ICD10, "M19.90", "Unspecified osteoarthritis, unspecified site"),
    (ICD10, "J30.9", "Allergic rhinitis, unspecified"),
    (ICD10, "N39.0", "Urinary tract infection, site not specified"),
    (ICD10, "R13.10", "Dysphagia, unspecified"),
    (ICD10, "G47.33", "Obstructive sleep apnea (adult) (pediatric)"),
    (ICD10, "Z87.891", "Personal history of nicotine dependence"),
    (ICD10, "M54.50", "Low back pain, unspecified"),
    (SNOMED, "59621000", "Essential hypertension"),
    (SNOMED, "44054006", "Diabetes mellitus type 2"),
]
# (loinc, text, unit, low, high, values cycled)
ALT = (
    "1742-6",
    "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    "U/L",
    7,
    56,
    [22, 31, 28, 40, 35],
)
AST = (
    "1920-8",
    "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    "U/L",
    10,
    40,
    [25, 30, 27, 33, 29],
)
EGFR = (
    "62238-1",
    "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood "
    "by Creatinine-based formula (CKD-EPI)",
    "mL/min/{1.73_m2}",
    60,
    None,
    [78, 74, 81, 69, 72],
)


def day(offset: int) -> str:
    return (ANCHOR - timedelta(days=offset)).isoformat()


def concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def bundle(resources: list[Resource], base: str = "http://127.0.0.1:9/fhir") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


# ----------------------------------------------------------------------------------------- R4
def r4_condition(pid: str, n: int, cond: tuple[str, str, str], active: bool, offset: int) -> Resource:
    status = "active" if active else "resolved"
    return {
        "resourceType": "Condition",
        "id": f"cond-{n}",
        "meta": {"lastUpdated": f"{day(offset)}T09:00:00Z"},
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": status}]},
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": concept(*cond),
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": day(offset + 30),
        "recordedDate": day(offset),
    }


def r4_dosage(drug: tuple[str, str, int, str, int]) -> dict[str, Any]:
    _, display, dose, unit, times = drug
    return {
        "sequence": 1,
        "text": f"{dose} {unit.strip('{}')} by mouth {times} times a day",
        "timing": {"repeat": {"frequency": times, "period": 1, "periodUnit": "d"}},
        "route": ROUTE_ORAL,
        "doseAndRate": [
            {"doseQuantity": {"value": dose, "unit": unit.strip("{}"), "system": UCUM, "code": unit}}
        ],
    }


def r4_request(
    pid: str,
    ident: str,
    drug: tuple[str, str, int, str, int],
    status: str,
    offset: int,
    intent: str = "order",
) -> Resource:
    return {
        "resourceType": "MedicationRequest",
        "id": ident,
        "status": status,
        "intent": intent,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                        "code": "outpatient",
                    }
                ]
            }
        ],
        "medicationCodeableConcept": concept(RXNORM, drug[0], drug[1]),
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": f"{day(offset)}T10:30:00Z",
        "requester": {"reference": "Practitioner/COREPRACTITIONER1", "display": "Dr. Core"},
        "dosageInstruction": [r4_dosage(drug)],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": 3,
            "quantity": {"value": 90, "unit": "tablet"},
            "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"},
        },
    }


def r4_statement(pid: str, ident: str, drug: tuple[str, str, int, str, int], offset: int) -> Resource:
    return {
        "resourceType": "MedicationStatement",
        "id": ident,
        "status": "active",
        "medicationCodeableConcept": concept(RXNORM, drug[0], drug[1]),
        "subject": {"reference": f"Patient/{pid}"},
        "effectivePeriod": {"start": day(offset)},
        "dateAsserted": day(offset),
        "informationSource": {"reference": f"Patient/{pid}"},
        "dosage": [r4_dosage(drug)],
    }


def r4_observation(pid: str, ident: str, lab: tuple[Any, ...], n: int, offset: int) -> Resource:
    code, display, unit, low, high, values = lab
    ref_range: dict[str, Any] = {"low": {"value": low, "unit": unit, "system": UCUM, "code": unit}}
    if high is not None:
        ref_range["high"] = {"value": high, "unit": unit, "system": UCUM, "code": unit}
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                        "display": "Laboratory",
                    }
                ]
            }
        ],
        "code": concept(LOINC, code, display),
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": f"{day(offset)}T08:15:00Z",
        "issued": f"{day(offset)}T11:40:00.000Z",
        "valueQuantity": {"value": values[n % len(values)], "unit": unit, "system": UCUM, "code": unit},
        "interpretation": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "N",
                    }
                ]
            }
        ],
        "referenceRange": [ref_range],
    }


def r4_draft(pid: str, drug: tuple[str, str, int, str, int]) -> Resource:
    resource = r4_request(pid, "request-123", drug, "draft", 0)
    resource["authoredOn"] = ANCHOR.isoformat()
    return resource


def r4_prefetch(
    pid: str,
    *,
    conditions: int,
    requests: int,
    statements: int,
    labs_each: int,
    als: bool,
    baclofen: bool,
    diazepam: bool = False,
) -> dict[str, Any]:
    """A prefetch with the service's R4 keys: the patient's conditions, orders, statements, labs."""
    conds = []
    if als:
        conds.append(r4_condition(pid, 0, ALS_SNOMED, True, 400))
    for n in range(len(conds), conditions):
        cond = OTHER_CONDITIONS[n % len(OTHER_CONDITIONS)]
        conds.append(r4_condition(pid, n, cond, active=n % 3 != 2, offset=30 + 37 * n))
    reqs = []
    if baclofen:
        reqs.append(r4_request(pid, "medrx-baclofen", BACLOFEN, "active", 60))
    for n in range(len(reqs), requests):
        drug = OTHER_DRUGS[n % len(OTHER_DRUGS)]
        status = "active" if n % 4 != 3 else "completed"
        reqs.append(r4_request(pid, f"medrx-{n}", drug, status, 20 + 29 * n))
    stmts = [
        r4_statement(pid, f"medst-{n}", OTHER_DRUGS[(n * 5 + 2) % len(OTHER_DRUGS)], 15 + 41 * n)
        for n in range(statements)
    ]
    if diazepam:  # taken at night for years: the benzodiazepine the new antispastic meets
        stmts[-1] = r4_statement(pid, "medst-diazepam", DIAZEPAM, 900)
    liver = []
    for n in range(labs_each):
        liver.append(r4_observation(pid, f"alt-{n}", ALT, n, 7 + 45 * n))
        liver.append(r4_observation(pid, f"ast-{n}", AST, n, 7 + 45 * n))
    renal = [r4_observation(pid, f"egfr-{n}", EGFR, n, 10 + 30 * n) for n in range(labs_each)]
    return {
        "patient": {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1961-04-02"},
        "conditions": bundle(conds),
        "medicationRequests": bundle(reqs),
        "medicationStatements": bundle(stmts),
        "liverLabs": bundle(liver),
        "renalLabs": bundle(renal),
        "lungFunctionLabs": bundle([]),
    }


def order_sign(pid: str, hook_instance: str, draft: Resource, prefetch: dict[str, Any]) -> dict[str, Any]:
    return {
        "hookInstance": hook_instance,
        "hook": "order-sign",
        "fhirServer": FHIR_SERVER,
        "context": {
            "patientId": pid,
            "userId": "Practitioner/COREPRACTITIONER1",
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]},
        },
        "prefetch": prefetch,
    }


# ----------------------------------------------------------------------------------------- DSTU2
def dstu2_condition(pid: str, n: int, cond: tuple[str, str, str], active: bool, offset: int) -> Resource:
    return {
        "resourceType": "Condition",
        "id": f"cond-{n}",
        "patient": {"reference": f"Patient/{pid}"},
        "code": concept(*cond),
        "category": {"coding": [{"system": "http://hl7.org/fhir/condition-category", "code": "diagnosis"}]},
        "clinicalStatus": "active" if active else "resolved",
        "verificationStatus": "confirmed",
        "onsetDateTime": day(offset + 30),
        "dateRecorded": day(offset),
    }


def dstu2_dosage(drug: tuple[str, str, int, str, int]) -> dict[str, Any]:
    _, _, dose, unit, times = drug
    return {
        "text": f"{dose} {unit.strip('{}')} by mouth {times} times a day",
        "timing": {"repeat": {"frequency": times, "period": 1, "periodUnits": "d"}},
        "route": ROUTE_ORAL,
        "doseQuantity": {"value": dose, "unit": unit.strip("{}"), "system": UCUM, "code": unit},
    }


def dstu2_order(
    pid: str, ident: str, drug: tuple[str, str, int, str, int], status: str, offset: int
) -> Resource:
    return {
        "resourceType": "MedicationOrder",
        "id": ident,
        "dateWritten": f"{day(offset)}T10:30:00Z",
        "status": status,
        "patient": {"reference": f"Patient/{pid}"},
        "prescriber": {"reference": "Practitioner/COREPRACTITIONER1"},
        "medicationCodeableConcept": concept(RXNORM, drug[0], drug[1]),
        "dosageInstruction": [dstu2_dosage(drug)],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": 3,
            "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"},
        },
    }


def dstu2_statement(pid: str, ident: str, drug: tuple[str, str, int, str, int], offset: int) -> Resource:
    _, _, dose, unit, times = drug
    return {
        "resourceType": "MedicationStatement",
        "id": ident,
        "patient": {"reference": f"Patient/{pid}"},
        "status": "active",
        "wasNotTaken": False,
        "dateAsserted": day(offset),
        "effectivePeriod": {"start": day(offset)},
        "medicationCodeableConcept": concept(RXNORM, drug[0], drug[1]),
        "dosage": [
            {
                "timing": {"repeat": {"frequency": times, "period": 1, "periodUnits": "d"}},
                "route": ROUTE_ORAL,
                "quantityQuantity": {"value": dose, "unit": unit.strip("{}"), "system": UCUM, "code": unit},
            }
        ],
    }


def dstu2_observation(pid: str, ident: str, lab: tuple[Any, ...], n: int, offset: int) -> Resource:
    code, display, unit, low, high, values = lab
    ref_range: dict[str, Any] = {"low": {"value": low, "unit": unit, "system": UCUM, "code": unit}}
    if high is not None:
        ref_range["high"] = {"value": high, "unit": unit, "system": UCUM, "code": unit}
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "category": {
            "coding": [{"system": "http://hl7.org/fhir/observation-category", "code": "laboratory"}]
        },
        "code": concept(LOINC, code, display),
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": f"{day(offset)}T08:15:00Z",
        "issued": f"{day(offset)}T11:40:00.000Z",
        "valueQuantity": {"value": values[n % len(values)], "unit": unit, "system": UCUM, "code": unit},
        "referenceRange": [ref_range],
    }


def sandbox_dstu2_order_select() -> dict[str, Any]:
    """The sandbox's Rx View against a DSTU2 server, after the user picked Lioresal 10 mg."""
    pid = "smart-1288992"
    draft = {
        "resourceType": "MedicationOrder",
        "id": "order-123",
        "status": "draft",
        "patient": {"reference": f"Patient/{pid}"},
        "dateWritten": ANCHOR.isoformat(),
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                "doseQuantity": {"value": 1, "system": UCUM, "code": "{pill}"},
            }
        ],
        "dispenseRequest": {
            "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"}
        },
        "intent": "order",
        "category": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                    "code": "community",
                }
            ]
        },
        "medicationCodeableConcept": {
            "text": LIORESAL[1],
            "coding": [{"display": LIORESAL[1], "system": RXNORM, "code": LIORESAL[0]}],
        },
    }
    conds = [dstu2_condition(pid, 0, ALS, True, 300)]
    conds += [dstu2_condition(pid, n, OTHER_CONDITIONS[n], n % 3 != 2, 40 * n) for n in range(1, 8)]
    orders = [dstu2_order(pid, f"order-{n}", OTHER_DRUGS[n], "active", 25 * n + 5) for n in range(8)]
    stmts = [dstu2_statement(pid, f"medst-{n}", OTHER_DRUGS[n + 9], 33 * n + 12) for n in range(4)]
    liver = [dstu2_observation(pid, f"alt-{n}", ALT, n, 20 + 60 * n) for n in range(2)]
    liver += [dstu2_observation(pid, f"ast-{n}", AST, n, 20 + 60 * n) for n in range(2)]
    renal = [dstu2_observation(pid, f"egfr-{n}", EGFR, n, 14 + 50 * n) for n in range(3)]
    return {
        "hookInstance": "8c5bb4e2-6d4e-4a55-9a8f-0c61e1c4f7a2",
        "hook": "order-select",
        "fhirServer": FHIR_SERVER,
        "context": {
            "patientId": pid,
            "userId": "Practitioner/COREPRACTITIONER1",
            "selections": ["MedicationOrder/order-123"],
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]},
        },
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": pid,
                "gender": "female",
                "birthDate": "1958-02-11",
                "name": [{"use": "official", "family": ["Shaw"], "given": ["Amy", "V"]}],
            },
            "conditions": bundle(conds),
            "medicationOrders": bundle(orders),
            "medicationStatements": bundle(stmts),
            "liverLabs": bundle(liver),
            "renalLabs": bundle(renal),
            "lungFunctionLabs": bundle([]),
        },
    }


# ----------------------------------------------------------------------------------------- kinds
def build() -> dict[str, dict[str, Any]]:
    # 50 resources: 10 conditions, 14 orders, 6 statements, 10 liver labs (5 ALT + 5 AST), 5 eGFR... = 45;
    # labs_each=7 gives 14 + 7 = 21 labs -> 10 + 13 + 6 + 21 = 50.
    # With the Patient resource (second set of rules, 2026-12) one order fewer keeps the total at 50.
    small = {"conditions": 10, "requests": 12, "statements": 6, "labs_each": 7}
    kind_a = order_sign(
        "pat-htn-7",
        "0b7f6f5c-5c1e-4b8e-9d2a-1f0a7c3e2a11",
        r4_draft("pat-htn-7", AMLODIPINE_NEW),
        r4_prefetch("pat-htn-7", als=False, baclofen=False, **small),
    )
    kind_b = order_sign(
        "pat-als-1",
        "5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        r4_draft("pat-als-1", DIAZEPAM),
        r4_prefetch("pat-als-1", als=True, baclofen=True, **small),
    )
    kind_c = sandbox_dstu2_order_select()
    # 1,000 resources: 250 conditions, 300 orders, 250 statements, 200 lab results (2 x 67 + 66).
    kind_d = order_sign(
        "pat-als-long",
        "e3b0c442-98fc-4c14-9afb-4c8996fb9242",
        r4_draft("pat-als-long", BACLOFEN),
        r4_prefetch(
            "pat-als-long",
            conditions=249,  # + the Patient resource = 1,000
            requests=300,
            statements=250,
            labs_each=67,
            als=True,
            baclofen=False,
            diazepam=True,
        ),
    )
    kind_d["prefetch"]["renalLabs"]["entry"].pop()
    kind_d["prefetch"]["renalLabs"]["total"] -= 1
    return {"a": kind_a, "b": kind_b, "c": kind_c, "d": kind_d}


def scaled(resources: int) -> dict[str, Any]:
    """Kind d's patient and order with `resources` prefetched in kind d's proportions (a quarter
    conditions, 30% orders, a quarter statements, a fifth labs); 0 gives empty bundles for every key.

    Built in memory for the per-resource cost (micro.py): 10,000 resources are ~10 MB, more than
    the service's body limit, so they are never sent over HTTP nor committed."""
    labs = resources // 5
    request = order_sign(
        "pat-als-long",
        "e3b0c442-98fc-4c14-9afb-4c8996fb9242",
        r4_draft("pat-als-long", BACLOFEN),
        r4_prefetch(
            "pat-als-long",
            conditions=resources // 4,
            requests=resources * 3 // 10,
            statements=resources // 4,
            labs_each=(labs + 2) // 3,
            als=resources > 0,
            baclofen=False,
            diazepam=resources > 0,
        ),
    )
    prefetch = request["prefetch"]
    if resources == 0:
        prefetch.pop("patient", None)  # nothing prefetched at all, not even the Patient read
        # and no FHIR server to ask for it: a fetch from the unreachable placeholder would add a
        # refused connection (and a warning line) to every call of the scaling run
        request.pop("fhirServer", None)
        request.pop("fhirAuthorization", None)
    while prefetch_size(request) > resources:  # the labs are rounded up to a multiple of three
        key = "renalLabs" if prefetch["renalLabs"]["entry"] else "liverLabs"
        prefetch[key]["entry"].pop()
        prefetch[key]["total"] -= 1
    return request


NAMES = {
    "a": "a-amlodipine-order-sign.json",
    "b": "b-diazepam-als-baclofen-order-sign.json",
    "c": "c-sandbox-dstu2-order-select-baclofen.json",
    "d": "d-baclofen-1000-resources-order-sign.json",
}


def prefetch_size(request: dict[str, Any]) -> int:
    """Prefetched resources as the service counts them against CDS_MAX_PREFETCH_ENTRIES: every
    entry of a Bundle, and a single resource (the Patient read) as one."""
    total = 0
    for value in request.get("prefetch", {}).values():
        total += len(value.get("entry", [])) if value.get("resourceType") == "Bundle" else 1
    return total


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for kind, request in build().items():
        path = OUT / NAMES[kind]
        path.write_text(json.dumps(request, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"{path.relative_to(OUT.parent.parent)}: {prefetch_size(request)} prefetch resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
