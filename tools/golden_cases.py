"""Build the golden hook requests in tests/golden/<rule-id>/<case>.request.json.

    .venv/bin/python tools/golden_cases.py            # (re)write every request file
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden -q  # record the responses, then READ them
    .venv/bin/pytest tests/golden -q                  # check

A case is (folder, name, request). The folder is the rule id (or `baseline`, which must stay silent);
the name starts with `fires-` or `silent-` (see tests/golden/test_golden.py). Dates are relative to
the fixed test clock (tests/conftest.py NOW = 2026-11-21T12:00:00Z). Request files that are no longer
built here are removed (with their recorded responses), so the folder always equals this list.

The builders below write each FHIR version the way that version spells it:
- R4 MedicationRequest: `doseAndRate`, `reasonCode` [..], `subject`, `authoredOn`, `doNotPerform`.
- STU3 MedicationRequest: dose directly on the dosage, `requester.agent`, `reasonCode` [..].
- DSTU2 MedicationOrder: `patient`, `dateWritten`, `periodUnits`, `reasonCodeableConcept`.
- Conditions: R4 CodeableConcept statuses; STU3 / DSTU2 code strings (`assertedDate` / `dateRecorded`).
- Observations: R4 `interpretation` [..]; STU3 / DSTU2 a single CodeableConcept.
`loose=True` reproduces the CDS Hooks sandbox's shapes (single-object `category` and `reasonCode`,
no Bundle `type`, dose `1 {pill}`).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_cases_second_set import second_set_builders  # noqa: E402  (the second set's cases)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # tests/conftest.py NOW
TODAY = NOW.date().isoformat()

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
ICD9 = "http://hl7.org/fhir/sid/icd-9-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PATIENT = "pat-1"
FHIR_SERVER = "http://127.0.0.1:3005/fhir"

R4, STU3, DSTU2 = "R4", "STU3", "DSTU2"
JSON = dict[str, Any]


def days_ago(n: int, hour: int = 9) -> str:
    return (NOW - timedelta(days=n)).replace(hour=hour, minute=0).isoformat().replace("+00:00", "Z")


def date_ago(n: int) -> str:
    return (NOW - timedelta(days=n)).date().isoformat()


# ------------------------------------------------------------------------------ small FHIR types
def rx(code: str | None = None, display: str | None = None, text: str | None = None) -> JSON:
    """A medication CodeableConcept: an RxNorm coding (code and/or display) and/or text only."""
    concept: JSON = {}
    if text is not None:
        concept["text"] = text
    if code is not None or display is not None:
        coding: JSON = {"system": RXNORM}
        if code is not None:
            coding["code"] = code
        if display is not None:
            coding["display"] = display
        concept["coding"] = [coding]
    return concept


def cc(
    system: str | None = None, code: str | None = None, display: str | None = None, text: str | None = None
) -> JSON:
    concept: JSON = {}
    if code is not None:
        coding = {"system": system, "code": code}
        if display:
            coding["display"] = display
        concept["coding"] = [coding]
    if text is not None:
        concept["text"] = text
    return concept


ROUTES = {
    "oral": cc(SNOMED, "26643006", "Oral route"),
    "intrathecal": cc(SNOMED, "72607000", "Intrathecal route"),
    "iv": cc(SNOMED, "47625008", "Intravenous route"),
    "iv-text": {"text": "IV"},
    "po-v2": cc("http://terminology.hl7.org/CodeSystem/v2-0162", "PO", "Oral"),
}


def qty(value: float, unit: str, code: str | None = None) -> JSON:
    """A UCUM Quantity; `unit` is the human spelling, `code` the UCUM code (default: the same)."""
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


def dosage(
    version: str,
    dose: float | None = None,
    unit: str = "mg",
    *,
    freq: float | None = None,
    period: float = 1,
    period_unit: str = "d",
    period_max: float | None = None,
    freq_max: float | None = None,
    as_needed: bool = False,
    dose_range: tuple[float, float] | None = None,
    route: str | None = None,
    statement_dstu2: bool = False,
) -> JSON:
    """One dosage instruction in `version`'s spelling."""
    d: JSON = {}
    repeat: JSON = {}
    if freq is not None:
        repeat["frequency"] = freq
    if freq_max is not None:
        repeat["frequencyMax"] = freq_max
    if freq is not None or freq_max is not None:
        repeat["period"] = period
        if period_max is not None:
            repeat["periodMax"] = period_max
        repeat["periodUnits" if version == DSTU2 else "periodUnit"] = period_unit
        d["timing"] = {"repeat": repeat}
    if as_needed:
        d["asNeededBoolean"] = True
    if route is not None:
        d["route"] = ROUTES[route]
    amount: JSON | None = None
    if dose_range is not None:
        amount = {"doseRange": {"low": qty(dose_range[0], unit), "high": qty(dose_range[1], unit)}}
    elif dose is not None:
        amount = {"doseQuantity": qty(dose, unit)}
    if amount is not None:
        if version == R4:
            d["doseAndRate"] = [amount]
        elif statement_dstu2:  # DSTU2 MedicationStatement.dosage writes quantity[x]
            d.update({k.replace("dose", "quantity"): v for k, v in amount.items()})
        else:
            d.update(amount)
    return d


# ------------------------------------------------------------------------------ medications
def med_order(  # noqa: C901 - one builder for three FHIR versions' order shapes
    version: str,
    rid: str,
    medication: JSON | None = None,
    *,
    status: str = "draft",
    dosages: Iterable[JSON] = (),
    reason: JSON | None = None,
    reason_ref: JSON | None = None,
    do_not_perform: bool = False,
    med_ref: str | None = None,
    contained: list[JSON] | None = None,
    loose: bool = False,
    authored: str = TODAY,
) -> JSON:
    """R4 / STU3 MedicationRequest or DSTU2 MedicationOrder (a draft by default, or an active record)."""
    kind = "MedicationOrder" if version == DSTU2 else "MedicationRequest"
    r: JSON = {"resourceType": kind, "id": rid, "status": status}
    if contained:
        r["contained"] = contained
    if version != DSTU2:
        r["intent"] = "order"
    if version == R4 and loose:
        r["category"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                    "code": "community",
                }
            ]
        }
    elif version == R4:
        r["category"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                        "code": "community",
                    }
                ]
            }
        ]
    if do_not_perform:
        r["doNotPerform"] = True
    if medication is not None:
        r["medicationCodeableConcept"] = medication
    if med_ref is not None:
        r["medicationReference"] = {"reference": med_ref}
    if version == DSTU2:
        r["patient"] = {"reference": f"Patient/{PATIENT}"}
        r["dateWritten"] = authored
    else:
        r["subject"] = {"reference": f"Patient/{PATIENT}"}
        r["authoredOn"] = authored
    if version == STU3:
        r["requester"] = {"agent": {"reference": "Practitioner/COREPRACTITIONER1"}}
    if reason is not None:
        if version == DSTU2:
            r["reasonCodeableConcept"] = reason
        elif loose:
            r["reasonCode"] = reason  # the sandbox sends one object
        else:
            r["reasonCode"] = [reason]
    if reason_ref is not None:
        if version == DSTU2:
            r["reasonReference"] = reason_ref
        else:
            r["reasonReference"] = [reason_ref]
    dosages = list(dosages)
    if dosages:
        r["dosageInstruction"] = dosages
    return r


def statement(
    version: str,
    rid: str,
    medication: JSON,
    *,
    status: str = "active",
    dosages: Iterable[JSON] = (),
    based_on: str | None = None,
) -> JSON:
    """MedicationStatement in `version`'s spelling."""
    r: JSON = {"resourceType": "MedicationStatement", "id": rid, "status": status}
    if based_on is not None and version != DSTU2:
        r["basedOn"] = [{"reference": based_on}]
    r["medicationCodeableConcept"] = medication
    if version == DSTU2:
        r["patient"] = {"reference": f"Patient/{PATIENT}"}
        r["dateAsserted"] = date_ago(40)
    else:
        r["subject"] = {"reference": f"Patient/{PATIENT}"}
        r["dateAsserted"] = date_ago(40)
    if version == STU3:
        r["taken"] = "y"
    dosages = list(dosages)
    if dosages:
        r["dosage"] = dosages
    return r


def medication(rid: str, concept: JSON) -> JSON:
    return {"resourceType": "Medication", "id": rid, "code": concept}


def active(version: str, rid: str, medication: JSON | None, dosages: Iterable[JSON] = (), **kw: Any) -> JSON:
    """An active order record (prefetch), written 60 days ago."""
    return med_order(version, rid, medication, status="active", dosages=dosages, authored=date_ago(60), **kw)


# ------------------------------------------------------------------------------ conditions, labs
def condition(
    version: str,
    rid: str,
    code: JSON,
    *,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
) -> JSON:
    r: JSON = {"resourceType": "Condition", "id": rid}
    if version == R4:
        if clinical is not None:
            r["clinicalStatus"] = cc("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical)
        if verification is not None:
            r["verificationStatus"] = cc(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", verification
            )
        r["code"] = code
        r["subject"] = {"reference": f"Patient/{PATIENT}"}
        r["recordedDate"] = date_ago(400)
    else:
        if clinical is not None:
            r["clinicalStatus"] = clinical
        if verification is not None:
            r["verificationStatus"] = verification
        r["code"] = code
        if version == STU3:
            r["subject"] = {"reference": f"Patient/{PATIENT}"}
            r["assertedDate"] = date_ago(400)
        else:
            r["patient"] = {"reference": f"Patient/{PATIENT}"}
            r["dateRecorded"] = date_ago(400)
    return r


# Condition codes used below (all in cards/valuesets)
ALS_SNOMED = cc(SNOMED, "86044005", "Amyotrophic lateral sclerosis", "Amyotrophic lateral sclerosis")
ALS_ICD10 = cc(ICD10, "G12.21", "Amyotrophic lateral sclerosis")
ALS_ICD9 = cc(ICD9, "335.20", "Amyotrophic lateral sclerosis")
ALS_TEXT = {"text": "ALS (amyotrophic lateral sclerosis)"}
PLS_SNOMED = cc(SNOMED, "81211007", "Primary lateral sclerosis")
MS_ICD10 = cc(ICD10, "G35", "Multiple sclerosis")
MS_ICD9 = cc(ICD9, "340", "Multiple sclerosis")
MS_SNOMED = cc(SNOMED, "24700007", "Multiple sclerosis")
SPASTICITY_SNOMED = cc(SNOMED, "221360009", "Spasticity")
PARAPLEGIA_TEXT = {"text": "Paraplegia after spinal cord injury"}
CP_ICD10 = cc(ICD10, "G80.0", "Spastic quadriplegic cerebral palsy")
STROKE_ICD10 = cc(ICD10, "I69.351", "Hemiplegia following cerebral infarction affecting right dominant side")
CIRRHOSIS_ICD10 = cc(ICD10, "K74.60", "Unspecified cirrhosis of liver")
CIRRHOSIS_ICD9 = cc(ICD9, "571.5", "Cirrhosis of liver without mention of alcohol")
HEP_C_TEXT = {"text": "Chronic hepatitis C"}
HEP_B_ICD10 = cc(ICD10, "B18.1", "Chronic viral hepatitis B without delta-agent")
CKD4_ICD10 = cc(ICD10, "N18.4", "Chronic kidney disease, stage 4 (severe)")
CKD3_ICD10 = cc(ICD10, "N18.30", "Chronic kidney disease, stage 3 unspecified")
ESRD_SNOMED = cc(SNOMED, "46177005", "End-stage renal disease")
DIALYSIS_TEXT = {"text": "Hemodialysis dependence"}
HYPERTENSION = cc(ICD10, "I10", "Essential (primary) hypertension")
DIABETES = cc(ICD10, "E11.9", "Type 2 diabetes mellitus without complications")

ALT, AST = (
    ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma"),
    ("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma"),
)
EGFR_CKDEPI = ("62238-1", "eGFR CKD-EPI")
EGFR_2021 = ("98979-8", "eGFR CKD-EPI 2021")
EGFR_MDRD = ("48642-3", "eGFR MDRD non-black")


def observation(
    version: str,
    rid: str,
    test: tuple[str, str],
    value: float | None,
    unit: str,
    *,
    age_days: int,
    high: float | None = None,
    low: float | None = None,
    flag: str | None = None,
    value_string: str | None = None,
    ucum: str | None = None,
) -> JSON:
    r: JSON = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": cc(LOINC, test[0], test[1]),
    }
    r["subject"] = {"reference": f"Patient/{PATIENT}"}
    r["effectiveDateTime"] = days_ago(age_days)
    if value_string is not None:
        r["valueString"] = value_string
    elif value is not None:
        r["valueQuantity"] = qty(value, unit, ucum)
    if high is not None or low is not None:
        rng: JSON = {}
        if low is not None:
            rng["low"] = qty(low, unit, ucum)
        if high is not None:
            rng["high"] = qty(high, unit, ucum)
        r["referenceRange"] = [rng]
    if flag is not None:
        interp = cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", flag)
        r["interpretation"] = [interp] if version == R4 else interp
    return r


def alt(version: str, value: float, age_days: int, **kw: Any) -> JSON:
    kw.setdefault("high", 55)
    kw.setdefault("low", 7)
    return observation(version, f"alt-{age_days}d", ALT, value, "U/L", age_days=age_days, **kw)


def ast(version: str, value: float, age_days: int, **kw: Any) -> JSON:
    kw.setdefault("high", 48)
    kw.setdefault("low", 8)
    return observation(version, f"ast-{age_days}d", AST, value, "U/L", age_days=age_days, **kw)


def egfr(version: str, value: float, age_days: int, test: tuple[str, str] = EGFR_CKDEPI, **kw: Any) -> JSON:
    return observation(
        version,
        f"egfr-{age_days}d",
        test,
        value,
        "mL/min/1.73m2",
        ucum="mL/min/{1.73_m2}",
        age_days=age_days,
        **kw,
    )


# ------------------------------------------------------------------------------ bundles, hooks
def bundle(resources: Iterable[JSON], *, searchset: bool = True) -> JSON:
    entries = []
    for r in resources:
        entry: JSON = {"resource": r}
        if searchset:
            entry = {"fullUrl": f"{FHIR_SERVER}/{r['resourceType']}/{r['id']}", **entry}
        entries.append(entry)
    b: JSON = {"resourceType": "Bundle"}
    if searchset:
        b.update({"type": "searchset", "total": len(entries)})
    b["entry"] = entries
    return b


def ref(resource: JSON) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def hook_request(
    hook: str,
    version: str,
    drafts: list[JSON],
    *,
    select: list[JSON] | list[str] | None = None,
    conditions: Iterable[JSON] = (),
    orders: Iterable[JSON] = (),
    statements: Iterable[JSON] = (),
    liver: Iterable[JSON] = (),
    renal: Iterable[JSON] = (),
    lung: Iterable[JSON] = (),
    extra_prefetch: Iterable[JSON] = (),
    loose: bool = False,
    name: str = "",
) -> JSON:
    """A hook call with prefetch for every key the rules can need (empty searchsets where no data).

    order-select: `select` lists the selected drafts (default: the first draft); the others are
    co-medications. order-sign / medication-prescribe: every draft is new. `extra_prefetch`
    (e.g. Medication resources) is added to the medication-orders prefetch Bundle.
    """
    draft_bundle = bundle(drafts, searchset=False)
    if not loose:
        draft_bundle = {"resourceType": "Bundle", "type": "collection", "entry": draft_bundle["entry"]}
    context: JSON = {"patientId": PATIENT, "userId": "Practitioner/COREPRACTITIONER1"}
    if hook == "order-select":
        chosen = select if select is not None else drafts[:1]
        context["selections"] = [s if isinstance(s, str) else ref(s) for s in chosen]
        context["draftOrders"] = draft_bundle
    elif hook == "order-sign":
        context["draftOrders"] = draft_bundle
    elif hook == "medication-prescribe":
        context["medications"] = draft_bundle
    else:  # pragma: no cover
        raise ValueError(hook)
    orders_key = "medicationOrders" if version == DSTU2 else "medicationRequests"
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT, "gender": "female", "birthDate": "1964-03-02"},
        "conditions": bundle(conditions),
        orders_key: bundle([*orders, *extra_prefetch]),
        "medicationStatements": bundle(statements),
        "liverLabs": bundle(liver),
        "renalLabs": bundle(renal),
        "lungFunctionLabs": bundle(lung),
    }
    return {
        "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, f"spasticity-cds-golden/{name}")),
        "hook": hook,
        "fhirServer": FHIR_SERVER,
        "context": context,
        "prefetch": prefetch,
    }


# ------------------------------------------------------------------------------ drugs used often
def bac10(text: bool = True) -> JSON:  # SBD as the sandbox sends it
    return rx(
        "202109",
        "Baclofen 10 MG Oral Tablet [Lioresal]",
        "Baclofen 10 MG Oral Tablet [Lioresal]" if text else None,
    )


BAC10_SCD = rx("197391", "Baclofen 10 MG Oral Tablet")
BAC20_SCD = rx("197392", "Baclofen 20 MG Oral Tablet")
BAC20_SBD = rx("213725", "Baclofen 20 MG Oral Tablet [Lioresal]", "Baclofen 20 MG Oral Tablet [Lioresal]")
BAC_IN = rx("1292", "Baclofen")
BAC_PILL = rx("1155671", "Baclofen Pill", "Baclofen Pill")
LIORESAL_TEXT = {"text": "Lioresal"}
GABLOFEN_TEXT = {"text": "Gablofen 2000 mcg/mL intrathecal solution"}
LIORESAL_IT_TEXT = {"text": "Lioresal Intrathecal (baclofen injection) 500 mcg/mL"}
BAC_IT_CODE = rx("1666613")  # intrathecal product (code list route: intrathecal)
TIZ4 = rx("313413", "tizanidine 4 MG Oral Tablet", "tizanidine 4 MG Oral Tablet")
TIZ2_SBD = rx("153734", "tizanidine 2 MG Oral Tablet [Zanaflex]")
TIZ_IN = rx("57258", "tizanidine")
ZANAFLEX_TEXT = {"text": "Zanaflex 4 mg tablet"}
DAN25 = rx("856656", "Dantrolene Sodium 25 MG Oral Capsule", "Dantrolene Sodium 25 MG Oral Capsule")
DAN100 = rx("856652", "Dantrolene Sodium 100 MG Oral Capsule")
DAN50_SBD = rx("856662", "Dantrolene Sodium 50 MG Oral Capsule [Dantrium]")
DANTRIUM_TEXT = {"text": "Dantrium 25 mg capsules"}
DAN_IV_CODE = rx("856696")  # IV product (code list route: intravenous)
RYANODEX_TEXT = {"text": "Ryanodex 250 mg for injectable suspension"}
REVONTO_TEXT = {"text": "Revonto 20 mg vial"}
DIAZ5_SBD = rx("104700", "Diazepam 5 MG Oral Tablet [Valium]", "Diazepam 5 MG Oral Tablet [Valium]")
DIAZ5_SCD = rx("197591", "Diazepam 5 MG Oral Tablet")
DIAZ_IN = rx("3322", "Diazepam")
VALIUM_TEXT = {"text": "Valium 5mg"}
LORAZ1 = rx("197901", "Lorazepam 1 MG Oral Tablet", "Lorazepam 1 MG Oral Tablet")
ATIVAN_TEXT = {"text": "Ativan 0.5 mg tablet"}
LORAZ_INJ = rx("238100", "Lorazepam 2 MG/ML Injectable Solution")
CLONAZ05 = rx("197527", "Clonazepam 0.5 MG Oral Tablet")
KLONOPIN = rx("206159", "Clonazepam 1 MG Oral Tablet [Klonopin]")
ALPRAZ025 = rx("308047", "Alprazolam 0.25 MG Oral Tablet")
TEMAZ15 = rx("198241", "Temazepam 15 MG Oral Capsule")
MIDAZ_INJ = rx("311700", "Midazolam 1 MG/ML Injectable Solution")
NAYZILAM = rx("2173500", "Midazolam 50 MG/ML Nasal Spray [Nayzilam]")
DIASTAT = {"text": "Diastat AcuDial 10 mg rectal gel"}


def tid(version: str, dose: float, unit: str = "mg", **kw: Any) -> JSON:
    return dosage(version, dose, unit, freq=3, **kw)


def qid(version: str, dose: float, unit: str = "mg", **kw: Any) -> JSON:
    return dosage(version, dose, unit, freq=4, **kw)


def daily(version: str, dose: float, unit: str = "mg", **kw: Any) -> JSON:
    return dosage(version, dose, unit, freq=1, **kw)


# Conditions per version, for brevity
def als(v: str, rid: str = "cond-als", code: JSON = ALS_SNOMED, **kw: Any) -> JSON:
    return condition(v, rid, code, **kw)


# ============================================================================== the cases
CASES: list[tuple[str, str, JSON]] = []


def case(folder: str, name: str, hook: str, version: str, drafts: list[JSON], **kw: Any) -> None:
    CASES.append((folder, name, hook_request(hook, version, drafts, name=f"{folder}/{name}", **kw)))


def baclofen_dantrolene_combination() -> None:
    f = "baclofen-dantrolene-combination"
    v = R4
    case(
        f,
        "fires-r4-select-sandbox-lioresal-with-active-oral-dantrolene-als",
        "order-select",
        v,
        [med_order(v, "request-123", bac10(), dosages=[dosage(v, 1, "{pill}", freq=3)], loose=True)],
        loose=True,
        conditions=[als(v)],
        orders=[active(v, "mr-dan", DAN25, [tid(v, 25, route="oral")])],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-sign-dantrolene-with-active-baclofen-ms-icd9",
        "order-sign",
        v,
        [med_order(v, "order-123", DAN25, dosages=[tid(v, 25)])],
        conditions=[condition(v, "cond-ms", MS_ICD9)],
        orders=[active(v, "mo-bac", BAC10_SCD, [tid(v, 10)])],
        liver=[alt(v, 22, 20), ast(v, 25, 20)],
    )
    v = STU3
    case(
        f,
        "fires-stu3-prescribe-gablofen-mcg-with-dantrolene-statement",
        "medication-prescribe",
        v,
        [med_order(v, "req-it", GABLOFEN_TEXT, dosages=[daily(v, 300, "mcg")])],
        conditions=[condition(v, "cond-sci", PARAPLEGIA_TEXT)],
        statements=[statement(v, "ms-dan", DAN50_SBD, dosages=[tid(v, 50)])],
    )
    v = R4
    bac_draft = med_order(v, "mr-bac-draft", BAC_IN, dosages=[tid(v, 5, route="oral")])
    dan_new = med_order(v, "mr-dan-new", DANTRIUM_TEXT, dosages=[daily(v, 25)])
    case(
        f,
        "fires-r4-select-dantrium-text-with-unselected-baclofen-draft",
        "order-select",
        v,
        [bac_draft, dan_new],
        select=[dan_new],
        liver=[alt(v, 30, 10), ast(v, 28, 10)],
    )
    med = medication("med-bac", rx("197392", "Baclofen 20 MG Oral Tablet"))
    case(
        f,
        "fires-r4-sign-contained-medication-baclofen-with-active-dantrolene",
        "order-sign",
        v,
        [
            med_order(
                v, "mr-contained", None, contained=[med], med_ref="#med-bac", dosages=[tid(v, 1, "{tbl}")]
            )
        ],
        conditions=[condition(v, "cond-stroke", STROKE_ICD10)],
        orders=[active(v, "mr-dan", DAN100, [daily(v, 100)])],
    )
    v = STU3
    case(
        f,
        "fires-stu3-sign-dantrolene-with-active-baclofen-medication-in-prefetch",
        "order-sign",
        v,
        [med_order(v, "req-dan", DAN25, dosages=[tid(v, 25)])],
        orders=[active(v, "mr-bac", None, [tid(v, 10)], med_ref="Medication/med-bac")],
        extra_prefetch=[medication("med-bac", BAC10_SCD)],
        liver=[alt(v, 20, 5), ast(v, 20, 5)],
    )
    v = R4
    # silent
    case(
        f,
        "silent-r4-sign-new-baclofen-with-active-iv-ryanodex",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 10)])],
        conditions=[als(v)],
        orders=[active(v, "mr-ryanodex", RYANODEX_TEXT, [dosage(v, 250, "mg", freq=1, route="iv")])],
    )
    case(
        f,
        "silent-r4-select-new-iv-dantrolene-856696-with-active-baclofen",
        "order-select",
        v,
        [med_order(v, "mr-dan-iv", DAN_IV_CODE, dosages=[dosage(v, 2.5, "mg", freq=1, route="iv")])],
        conditions=[als(v)],
        orders=[active(v, "mr-bac", BAC10_SCD, [tid(v, 10)])],
    )
    v = STU3
    case(
        f,
        "silent-stu3-sign-new-tizanidine-with-active-baclofen-and-dantrolene",
        "order-sign",
        v,
        [med_order(v, "req-tiz", TIZ4, dosages=[tid(v, 4)])],
        conditions=[condition(v, "cond-ms", MS_SNOMED)],
        orders=[active(v, "mr-bac", BAC10_SCD, [tid(v, 10)]), active(v, "mr-dan", DAN25, [tid(v, 25)])],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-draft-stops-baclofen-while-dantrolene-active",
        "order-sign",
        v,
        [med_order(v, "mr-bac-stop", BAC10_SCD, status="stopped")],
        conditions=[als(v)],
        orders=[active(v, "mr-bac", BAC10_SCD, [tid(v, 10)]), active(v, "mr-dan", DAN25, [tid(v, 25)])],
    )
    sr = {
        "resourceType": "ServiceRequest",
        "id": "sr-1",
        "status": "draft",
        "intent": "order",
        "code": cc(LOINC, "24325-3", "Hepatic function panel"),
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    case(
        f,
        "silent-r4-select-servicerequest-selected-baclofen-dantrolene-drafts-unselected",
        "order-select",
        v,
        [
            sr,
            med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 10)]),
            med_order(v, "mr-dan", DAN25, dosages=[tid(v, 25)]),
        ],
        select=[sr],
        conditions=[als(v)],
    )
    v = DSTU2
    case(
        f,
        "silent-dstu2-prescribe-baclofen-dantrolene-statement-completed",
        "medication-prescribe",
        v,
        [med_order(v, "order-1", BAC20_SCD, dosages=[tid(v, 20)])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
        statements=[
            statement(
                v, "ms-dan", DAN25, status="completed", dosages=[dosage(v, 25, freq=3, statement_dstu2=True)]
            )
        ],
    )


def benzodiazepine_spasticity() -> None:
    f = "benzodiazepine-spasticity"
    v = R4
    case(
        f,
        "fires-r4-sign-valium-sbd-als-warning-offers-baclofen-and-tizanidine",
        "order-sign",
        v,
        [med_order(v, "mr-diaz", DIAZ5_SBD, dosages=[tid(v, 1, "{tbl}", route="oral")])],
        conditions=[als(v)],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-select-valium-text-only-ms-info",
        "order-select",
        v,
        [med_order(v, "order-123", VALIUM_TEXT, dosages=[daily(v, 5)])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
    )
    v = STU3
    case(
        f,
        "fires-stu3-prescribe-lorazepam-active-baclofen-no-condition-offers-tizanidine",
        "medication-prescribe",
        v,
        [med_order(v, "req-loraz", LORAZ1, dosages=[dosage(v, 1, freq=2)])],
        orders=[active(v, "mr-bac", BAC10_SCD, [tid(v, 10)])],
    )
    v = R4
    case(
        f,
        "fires-r4-select-sandbox-clonazepam-reason-muscle-spasm",
        "order-select",
        v,
        [
            med_order(
                v,
                "request-123",
                rx("197527", "Clonazepam 0.5 MG Oral Tablet", "Clonazepam 0.5 MG Oral Tablet"),
                dosages=[dosage(v, 1, "{pill}", freq=2)],
                reason=cc(SNOMED, "45352006", "Spasm", "Muscle spasm"),
                loose=True,
            )
        ],
        loose=True,
    )
    case(
        f,
        "fires-r4-sign-diazepam-ingredient-als-icd10-baclofen-tizanidine-active-remove-only",
        "order-sign",
        v,
        [med_order(v, "mr-diaz", DIAZ_IN, dosages=[tid(v, 2)])],
        conditions=[als(v, code=ALS_ICD10)],
        orders=[active(v, "mr-bac", BAC10_SCD, [tid(v, 10)]), active(v, "mr-tiz", TIZ4, [tid(v, 4)])],
    )
    # Text that fits the patient (docs/CARD-STYLE.md): ALS on baclofen 30 mg/day is told to add
    # tizanidine, not to start baclofen; ALS on tizanidine to add baclofen; MS never reads "ALS".
    case(
        f,
        "fires-r4-sign-diazepam-als-on-baclofen-30-add-tizanidine",
        "order-sign",
        v,
        [med_order(v, "mr-diaz", DIAZ5_SBD, dosages=[tid(v, 1, "{tbl}", route="oral")])],
        conditions=[als(v)],
        orders=[active(v, "mr-bac", BAC10_SCD, [tid(v, 10)])],
    )
    case(
        f,
        "fires-r4-sign-lorazepam-als-on-tizanidine-add-baclofen",
        "order-sign",
        v,
        [med_order(v, "mr-loraz", LORAZ1, dosages=[dosage(v, 1, freq=2)])],
        conditions=[als(v)],
        orders=[active(v, "mr-tiz", TIZ4, [tid(v, 4)])],
    )
    case(
        f,
        "fires-r4-sign-valium-sbd-ms-info-never-says-als",
        "order-sign",
        v,
        [med_order(v, "mr-diaz", DIAZ5_SBD, dosages=[tid(v, 1, "{tbl}", route="oral")])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-sign-klonopin-als-icd9-warning",
        "order-sign",
        v,
        [med_order(v, "order-kl", KLONOPIN, dosages=[daily(v, 1)])],
        conditions=[als(v, code=ALS_ICD9, verification=None)],
    )
    v = STU3
    case(
        f,
        "fires-stu3-select-temazepam-unselected-tizanidine-draft-pls",
        "order-select",
        v,
        [
            med_order(v, "req-tema", TEMAZ15, dosages=[daily(v, 15)]),
            med_order(v, "req-tiz", TIZ2_SBD, dosages=[tid(v, 2)]),
        ],
        conditions=[condition(v, "cond-pls", PLS_SNOMED)],
    )
    # silent: each kind of non-spasticity reason (ALS patient, oral benzodiazepine)
    reasons = [
        (R4, "seizure-icd10-g40", cc(ICD10, "G40.909", "Epilepsy, unspecified, not intractable")),
        (STU3, "status-epilepticus-text", {"text": "Status epilepticus rescue"}),
        (
            DSTU2,
            "alcohol-withdrawal-icd10-f10-230",
            cc(ICD10, "F10.230", "Alcohol dependence with withdrawal, uncomplicated"),
        ),
        (R4, "procedural-sedation-text", {"text": "Procedural sedation for MRI"}),
        (STU3, "anxiety-icd10-f41-1", cc(ICD10, "F41.1", "Generalized anxiety disorder")),
        (R4, "panic-text", {"text": "Panic attacks"}),
        (DSTU2, "insomnia-icd10-g47-00", cc(ICD10, "G47.00", "Insomnia, unspecified")),
        (R4, "dyspnoea-icd10-r06-00", cc(ICD10, "R06.00", "Dyspnea, unspecified")),
        (STU3, "breathlessness-text", {"text": "Breathlessness in ALS"}),
        (R4, "agitation-icd10-r45-1", cc(ICD10, "R45.1", "Restlessness and agitation")),
        (DSTU2, "palliative-icd10-z51-5", cc(ICD10, "Z51.5", "Encounter for palliative care")),
        (R4, "end-of-life-text", {"text": "End-of-life care"}),
    ]
    hooks = ["order-sign", "order-select", "medication-prescribe"]
    for i, (v, label, reason) in enumerate(reasons):
        hook = hooks[i % 3]
        if hook == "medication-prescribe" and v == R4:
            hook = "order-sign"
        drug = [LORAZ1, DIAZ5_SCD, CLONAZ05, ALPRAZ025][i % 4]
        case(
            f,
            f"silent-{v.lower()}-reason-{label}",
            hook,
            v,
            [med_order(v, f"draft-{i}", drug, dosages=[dosage(v, 1, "{tbl}", freq=2)], reason=reason)],
            conditions=[als(v, code=ALS_SNOMED if v == R4 else ALS_ICD10)],
        )
    v = R4
    cond_anx = condition(v, "cond-anx", cc(ICD10, "F41.0", "Panic disorder"))
    case(
        f,
        "silent-r4-sign-reason-reference-to-panic-condition-in-bundle",
        "order-sign",
        v,
        [
            med_order(
                v,
                "mr-alpraz",
                ALPRAZ025,
                dosages=[tid(v, 0.25)],
                reason_ref={"reference": "Condition/cond-anx"},
            ),
            cond_anx,
        ],
        conditions=[als(v), cond_anx],
    )
    case(
        f,
        "silent-r4-sign-reason-reference-to-panic-condition-in-prefetch-only",
        "order-sign",
        v,
        [
            med_order(
                v,
                "mr-alpraz-2",
                ALPRAZ025,
                dosages=[tid(v, 0.25)],
                reason_ref={"reference": "Condition/cond-anx"},
            )
        ],
        conditions=[als(v), cond_anx],
    )
    case(
        f,
        "silent-dstu2-sign-reason-icd9-epilepsy-code-only",
        "order-sign",
        DSTU2,
        [
            med_order(
                DSTU2,
                "mo-clonaz",
                CLONAZ05,
                dosages=[dosage(DSTU2, 1, "{tbl}", freq=2)],
                reason=cc(ICD9, "345.90"),
            )
        ],
        conditions=[als(DSTU2, code=ALS_ICD10)],
    )
    case(
        f,
        "silent-r4-sign-iv-lorazepam-route-als",
        "order-sign",
        v,
        [med_order(v, "mr-loraz-iv", rx("6470", "Lorazepam"), dosages=[daily(v, 2, route="iv")])],
        conditions=[als(v)],
    )
    v = STU3
    case(
        f,
        "silent-stu3-select-lorazepam-injectable-product-no-route-als",
        "order-select",
        v,
        [med_order(v, "req-loraz-inj", LORAZ_INJ, dosages=[daily(v, 1, "mL")])],
        conditions=[als(v)],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-nayzilam-nasal-spasticity",
        "order-sign",
        v,
        [med_order(v, "mr-nayz", NAYZILAM, dosages=[daily(v, 5)])],
        conditions=[condition(v, "cond-sp", SPASTICITY_SNOMED)],
    )
    case(
        f,
        "silent-r4-select-unselected-diazepam-draft-is-not-new-baclofen-selected",
        "order-select",
        v,
        [
            med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 10)]),
            med_order(v, "mr-diaz", DIAZ5_SBD, dosages=[tid(v, 5)]),
        ],
        conditions=[als(v)],
    )
    case(
        f,
        "silent-r4-select-diazepam-no-spasticity-context",
        "order-select",
        v,
        [med_order(v, "mr-diaz", DIAZ5_SCD, dosages=[daily(v, 5)])],
        conditions=[condition(v, "cond-htn", HYPERTENSION)],
    )
    case(
        f,
        "silent-r4-sign-diazepam-als-refuted",
        "order-sign",
        v,
        [med_order(v, "mr-diaz", DIAZ5_SCD, dosages=[daily(v, 5)])],
        conditions=[als(v, verification="refuted")],
    )
    v = STU3
    case(
        f,
        "silent-stu3-sign-diazepam-spasticity-entered-in-error",
        "order-sign",
        v,
        [med_order(v, "req-diaz", DIAZ5_SBD, dosages=[daily(v, 5)])],
        conditions=[condition(v, "cond-sp", SPASTICITY_SNOMED, verification="entered-in-error")],
    )
    v = DSTU2
    case(
        f,
        "silent-dstu2-prescribe-valium-ms-resolved-stroke-inactive",
        "medication-prescribe",
        v,
        [med_order(v, "order-1", VALIUM_TEXT, dosages=[daily(v, 5)])],
        conditions=[
            condition(v, "cond-ms", MS_ICD10, clinical="resolved"),
            condition(v, "cond-stroke", STROKE_ICD10, clinical="inactive"),
        ],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-diazepam-als-remission",
        "order-sign",
        v,
        [med_order(v, "mr-diaz", DIAZ5_SCD, dosages=[daily(v, 5)])],
        conditions=[als(v, clinical="remission")],
    )
    case(
        f,
        "silent-r4-sign-benzo-stop-draft-do-not-perform-als",
        "order-sign",
        v,
        [med_order(v, "mr-diaz-stop", DIAZ5_SCD, do_not_perform=True)],
        conditions=[als(v)],
        orders=[active(v, "mr-diaz", DIAZ5_SCD, [daily(v, 5)])],
    )


def cns_depressant_combination() -> None:
    f = "cns-depressant-combination"
    v = R4
    case(
        f,
        "fires-r4-select-lorazepam-with-active-tizanidine-als",
        "order-select",
        v,
        [med_order(v, "mr-loraz", LORAZ1, dosages=[dosage(v, 1, freq=2)])],
        conditions=[als(v)],
        orders=[active(v, "mr-tiz", TIZ4, [tid(v, 4)])],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-sign-clonazepam-for-seizures-with-active-baclofen",
        "order-sign",
        v,
        [
            med_order(
                v,
                "order-clon",
                CLONAZ05,
                dosages=[dosage(v, 0.5, freq=2)],
                reason=cc(ICD10, "G40.909", "Epilepsy, unspecified"),
            )
        ],
        conditions=[condition(v, "cond-als", ALS_TEXT)],
        orders=[active(v, "mo-bac", BAC10_SCD, [tid(v, 10)])],
    )
    v = STU3
    case(
        f,
        "fires-stu3-prescribe-new-baclofen-with-alprazolam-statement",
        "medication-prescribe",
        v,
        [med_order(v, "req-bac", BAC_IN, dosages=[tid(v, 5)])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
        statements=[statement(v, "ms-alpraz", ALPRAZ025, dosages=[tid(v, 0.25)])],
    )
    v = R4
    case(
        f,
        "fires-r4-sign-iv-midazolam-with-intrathecal-baclofen",
        "order-sign",
        v,
        [
            med_order(
                v,
                "mr-midaz",
                MIDAZ_INJ,
                dosages=[daily(v, 2, route="iv")],
                reason={"text": "Procedural sedation"},
            )
        ],
        conditions=[als(v)],
        orders=[active(v, "mr-it", GABLOFEN_TEXT, [daily(v, 400, "mcg", route="intrathecal")])],
    )
    case(
        f,
        "fires-r4-select-baclofen-with-unselected-diazepam-draft",
        "order-select",
        v,
        [
            med_order(v, "mr-bac", LIORESAL_TEXT, dosages=[tid(v, 5)]),
            med_order(v, "mr-diaz", VALIUM_TEXT, dosages=[daily(v, 5)]),
        ],
    )
    med = medication("med-loraz", LORAZ1)
    case(
        f,
        "fires-r4-sign-lorazepam-medication-in-same-bundle-with-active-baclofen",
        "order-sign",
        v,
        [med_order(v, "mr-loraz", None, med_ref="Medication/med-loraz", dosages=[tid(v, 1, "{tbl}")]), med],
        orders=[active(v, "mr-bac", BAC10_SCD, [tid(v, 10)])],
    )
    case(
        f,
        "fires-r4-sign-two-benzodiazepines-one-card-naming-both",
        "order-sign",
        v,
        [
            med_order(v, "mr-loraz", LORAZ1, dosages=[tid(v, 1)]),
            med_order(v, "mr-diaz", DIAZ5_SCD, dosages=[tid(v, 5)]),
        ],
        conditions=[als(v)],
        orders=[active(v, "mr-bac", BAC10_SCD, [tid(v, 10)])],
    )
    # silent
    case(
        f,
        "silent-r4-sign-active-only-combination-new-iv-dantrolene",
        "order-sign",
        v,
        [med_order(v, "mr-dan-iv", REVONTO_TEXT, dosages=[daily(v, 1, "mg", route="iv")])],
        conditions=[als(v)],
        orders=[active(v, "mr-bac", BAC10_SCD, [tid(v, 10)]), active(v, "mr-diaz", DIAZ5_SCD, [daily(v, 5)])],
    )
    v = STU3
    case(
        f,
        "silent-stu3-select-new-baclofen-with-completed-diazepam-statement",
        "order-select",
        v,
        [med_order(v, "req-bac", BAC10_SCD, dosages=[tid(v, 10)])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
        statements=[statement(v, "ms-diaz", DIAZ5_SCD, status="completed", dosages=[daily(v, 5)])],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-lorazepam-do-not-perform-with-active-baclofen",
        "order-sign",
        v,
        [med_order(v, "mr-loraz-stop", LORAZ1, do_not_perform=True)],
        conditions=[als(v)],
        orders=[active(v, "mr-loraz", LORAZ1, [daily(v, 1)]), active(v, "mr-bac", BAC10_SCD, [tid(v, 10)])],
    )
    v = DSTU2
    case(
        f,
        "silent-dstu2-sign-new-tizanidine-while-draft-cancels-active-lorazepam",
        "order-sign",
        v,
        [
            med_order(v, "order-tiz", TIZ4, dosages=[tid(v, 4)]),
            med_order(v, "order-loraz-cancel", LORAZ1, status="stopped"),
        ],
        conditions=[als(v, code=ALS_ICD10)],
        orders=[active(v, "mo-loraz", LORAZ1, [daily(v, 1)])],
    )
    v = R4
    case(
        f,
        "silent-r4-select-diazepam-selected-benzo-only-no-antispastic",
        "order-select",
        v,
        [med_order(v, "mr-diaz", DIAZ5_SCD, dosages=[daily(v, 5)], reason={"text": "Anxiety"})],
        conditions=[als(v)],
        orders=[active(v, "mr-dan-iv", DAN_IV_CODE, [daily(v, 20, route="iv")])],
    )


def dantrolene_hepatic_disease() -> None:
    f = "dantrolene-hepatic-disease"
    v = R4
    case(
        f,
        "fires-r4-sign-dantrolene-cirrhosis-icd10-critical",
        "order-sign",
        v,
        [med_order(v, "mr-dan", DAN25, dosages=[daily(v, 25)])],
        conditions=[als(v), condition(v, "cond-cirr", CIRRHOSIS_ICD10)],
    )
    v = STU3
    case(
        f,
        "fires-stu3-select-dantrium-text-hepatitis-c-text",
        "order-select",
        v,
        [med_order(v, "req-dan", DANTRIUM_TEXT, dosages=[daily(v, 25)])],
        conditions=[condition(v, "cond-hcv", HEP_C_TEXT)],
        liver=[alt(v, 30, 20), ast(v, 30, 20)],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-prescribe-dantrolene-cirrhosis-icd9",
        "medication-prescribe",
        v,
        [med_order(v, "order-dan", DAN50_SBD, dosages=[tid(v, 50)])],
        conditions=[condition(v, "cond-cirr", CIRRHOSIS_ICD9)],
    )
    v = R4
    case(
        f,
        "fires-r4-select-sandbox-dantrolene-hepatitis-b-recurrence",
        "order-select",
        v,
        [
            med_order(
                v,
                "request-123",
                rx("856660", "Dantrolene Sodium 50 MG Oral Capsule", "Dantrolene Sodium 50 MG Oral Capsule"),
                dosages=[dosage(v, 1, "{pill}", freq=2)],
                loose=True,
            )
        ],
        loose=True,
        conditions=[condition(v, "cond-hbv", HEP_B_ICD10, clinical="recurrence")],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-sign-dantrolene-cirrhosis-without-clinical-status",
        "order-sign",
        v,
        [med_order(v, "order-dan", DAN25, dosages=[tid(v, 25)])],
        conditions=[condition(v, "cond-cirr", CIRRHOSIS_ICD10, clinical=None)],
    )
    v = R4
    # silent
    case(
        f,
        "silent-r4-sign-dantrolene-hepatitis-resolved",
        "order-sign",
        v,
        [med_order(v, "mr-dan", DAN25, dosages=[daily(v, 25)])],
        conditions=[condition(v, "cond-hbv", HEP_B_ICD10, clinical="resolved")],
    )
    case(
        f,
        "silent-r4-sign-ryanodex-iv-with-cirrhosis",
        "order-sign",
        v,
        [med_order(v, "mr-ryan", RYANODEX_TEXT, dosages=[daily(v, 250)])],
        conditions=[condition(v, "cond-cirr", CIRRHOSIS_ICD10)],
    )
    v = STU3
    case(
        f,
        "silent-stu3-prescribe-dantrolene-cirrhosis-refuted",
        "medication-prescribe",
        v,
        [med_order(v, "req-dan", DAN100, dosages=[daily(v, 100)])],
        conditions=[condition(v, "cond-cirr", CIRRHOSIS_ICD10, verification="refuted")],
        liver=[alt(v, 20, 5), ast(v, 21, 5)],
    )
    v = DSTU2
    case(
        f,
        "silent-dstu2-sign-dantrolene-cirrhosis-entered-in-error",
        "order-sign",
        v,
        [med_order(v, "order-dan", DAN25, dosages=[daily(v, 25)])],
        conditions=[condition(v, "cond-cirr", CIRRHOSIS_ICD9, verification="entered-in-error")],
        liver=[alt(v, 20, 5), ast(v, 21, 5)],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-new-baclofen-with-cirrhosis",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 10)])],
        conditions=[condition(v, "cond-cirr", CIRRHOSIS_ICD10)],
    )
    case(
        f,
        "silent-r4-sign-dantrolene-stop-draft-with-cirrhosis",
        "order-sign",
        v,
        [med_order(v, "mr-dan-stop", DAN25, status="cancelled")],
        conditions=[condition(v, "cond-cirr", CIRRHOSIS_ICD10)],
        orders=[active(v, "mr-dan", DAN25, [daily(v, 25)])],
    )


def dantrolene_liver_monitoring() -> None:
    f = "dantrolene-liver-monitoring"
    v = R4
    case(
        f,
        "fires-r4-sign-no-labs-servicerequest-suggestion",
        "order-sign",
        v,
        [med_order(v, "mr-dan", DAN25, dosages=[daily(v, 25, route="oral")])],
        conditions=[als(v)],
    )
    v = STU3
    case(
        f,
        "fires-stu3-select-no-labs-procedurerequest-suggestion",
        "order-select",
        v,
        [med_order(v, "req-dan", DAN50_SBD, dosages=[tid(v, 50)])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-prescribe-no-labs-diagnosticorder-suggestion",
        "medication-prescribe",
        v,
        [med_order(v, "order-dan", DANTRIUM_TEXT, dosages=[daily(v, 25)])],
        conditions=[condition(v, "cond-cp", CP_ICD10)],
    )
    v = R4
    case(
        f,
        "fires-r4-sign-alt-above-reference-high",
        "order-sign",
        v,
        [med_order(v, "mr-dan", DAN25, dosages=[daily(v, 25)])],
        conditions=[als(v)],
        liver=[alt(v, 120, 30), ast(v, 40, 30)],
    )
    v = STU3
    case(
        f,
        "fires-stu3-sign-ast-flagged-h-no-range",
        "order-sign",
        v,
        [med_order(v, "req-dan", DAN25, dosages=[daily(v, 25)])],
        liver=[alt(v, 40, 12), observation(v, "ast-flag", AST, 70, "U/L", age_days=12, flag="H")],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-sign-labs-120-days-old-count-as-none",
        "order-sign",
        v,
        [med_order(v, "order-dan", DAN100, dosages=[daily(v, 100)])],
        liver=[alt(v, 20, 120), ast(v, 22, 120)],
    )
    v = R4
    case(
        f,
        "fires-r4-select-normal-labs-91-days-old",
        "order-select",
        v,
        [med_order(v, "mr-dan", DAN25, dosages=[daily(v, 25)])],
        liver=[alt(v, 20, 91), ast(v, 22, 91)],
    )
    # silent
    case(
        f,
        "silent-r4-sign-normal-alt-ast-30-days",
        "order-sign",
        v,
        [med_order(v, "mr-dan", DAN25, dosages=[daily(v, 25)])],
        conditions=[als(v)],
        liver=[alt(v, 22, 30), ast(v, 25, 30)],
    )
    v = STU3
    case(
        f,
        "silent-stu3-select-normal-alt-exactly-90-days",
        "order-select",
        v,
        [med_order(v, "req-dan", DAN25, dosages=[daily(v, 25)])],
        liver=[alt(v, 22, 90), ast(v, 24, 90)],
    )
    v = DSTU2
    case(
        f,
        "silent-dstu2-sign-latest-alt-normal-after-older-high",
        "order-sign",
        v,
        [med_order(v, "order-dan", DAN25, dosages=[daily(v, 25)])],
        liver=[alt(v, 25, 10), alt(v, 150, 60)],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-hepatic-disease-takes-precedence",
        "order-sign",
        v,
        [med_order(v, "mr-dan", DAN25, dosages=[daily(v, 25)])],
        conditions=[condition(v, "cond-cirr", CIRRHOSIS_ICD10)],
    )
    case(
        f,
        "silent-r4-select-iv-dantrolene-856696-no-labs",
        "order-select",
        v,
        [med_order(v, "mr-dan-iv", DAN_IV_CODE, dosages=[daily(v, 20)])],
    )
    case(
        f,
        "silent-r4-sign-iv-route-dantrolene-no-labs",
        "order-sign",
        v,
        [med_order(v, "mr-dan-iv", {"text": "dantrolene"}, dosages=[daily(v, 100, route="iv")])],
    )
    v = STU3
    case(
        f,
        "silent-stu3-prescribe-revonto-no-labs",
        "medication-prescribe",
        v,
        [med_order(v, "req-rev", REVONTO_TEXT, dosages=[daily(v, 20)])],
    )


def baclofen_abrupt_withdrawal() -> None:
    f = "baclofen-abrupt-withdrawal"
    v = R4
    case(
        f,
        "fires-r4-sign-status-stopped-oral-baclofen",
        "order-sign",
        v,
        [med_order(v, "mr-bac-stop", BAC20_SCD, status="stopped")],
        conditions=[als(v)],
        orders=[active(v, "mr-bac", BAC20_SCD, [tid(v, 20)])],
    )
    case(
        f,
        "fires-r4-select-do-not-perform-baclofen-ingredient",
        "order-select",
        v,
        [med_order(v, "mr-bac-dnp", BAC_IN, do_not_perform=True)],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
        statements=[statement(v, "ms-bac", LIORESAL_TEXT, dosages=[tid(v, 10)])],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-sign-stop-intrathecal-baclofen-critical",
        "order-sign",
        v,
        [med_order(v, "order-it-stop", GABLOFEN_TEXT, status="stopped")],
        conditions=[condition(v, "cond-sci", PARAPLEGIA_TEXT)],
        orders=[active(v, "mo-it", GABLOFEN_TEXT, [daily(v, 300, "mcg", route="intrathecal")])],
    )
    v = STU3
    case(
        f,
        "fires-stu3-prescribe-cut-exactly-50-percent",
        "medication-prescribe",
        v,
        [med_order(v, "req-bac", BAC10_SCD, dosages=[tid(v, 1, "{tbl}")])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
        orders=[active(v, "mr-bac", BAC20_SCD, [tid(v, 1, "{tbl}")])],
    )
    v = R4
    case(
        f,
        "fires-r4-sign-intrathecal-cut-400-to-200-mcg-critical",
        "order-sign",
        v,
        [med_order(v, "mr-it-new", LIORESAL_IT_TEXT, dosages=[daily(v, 200, "mcg", route="intrathecal")])],
        conditions=[als(v)],
        orders=[active(v, "mr-it", LIORESAL_IT_TEXT, [daily(v, 400, "mcg", route="intrathecal")])],
    )
    # silent
    v = STU3
    case(
        f,
        "silent-stu3-prescribe-cut-40-percent",
        "medication-prescribe",
        v,
        [med_order(v, "req-bac", BAC_IN, dosages=[tid(v, 12)])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
        orders=[active(v, "mr-bac", BAC20_SCD, [tid(v, 20)])],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-route-switch-oral-to-intrathecal",
        "order-sign",
        v,
        [med_order(v, "mr-it", GABLOFEN_TEXT, dosages=[daily(v, 100, "mcg", route="intrathecal")])],
        conditions=[als(v)],
        orders=[active(v, "mr-bac", BAC20_SCD, [tid(v, 20)])],
    )
    case(
        f,
        "silent-r4-sign-stop-draft-without-active-baclofen",
        "order-sign",
        v,
        [med_order(v, "mr-bac-stop", BAC20_SCD, status="stopped")],
        conditions=[als(v)],
    )
    v = DSTU2
    case(
        f,
        "silent-dstu2-select-dose-increase",
        "order-select",
        v,
        [med_order(v, "order-bac", BAC20_SCD, dosages=[tid(v, 20)])],
        conditions=[condition(v, "cond-ms", MS_ICD9)],
        orders=[active(v, "mo-bac", BAC10_SCD, [tid(v, 10)])],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-stop-oral-route-while-only-intrathecal-active",
        "order-sign",
        v,
        [med_order(v, "mr-bac-stop", BAC10_SCD, status="stopped", dosages=[dosage(v, route="oral")])],
        conditions=[als(v)],
        orders=[active(v, "mr-it", GABLOFEN_TEXT, [daily(v, 300, "mcg", route="intrathecal")])],
    )
    case(
        f,
        "silent-r4-sign-stop-and-replace-at-same-dose",
        "order-sign",
        v,
        [
            med_order(v, "mr-bac-stop", BAC20_SCD, status="stopped"),
            med_order(v, "mr-bac-new", BAC10_SCD, dosages=[tid(v, 2, "{tbl}")]),
        ],
        conditions=[als(v)],
        orders=[active(v, "mr-bac", BAC20_SCD, [tid(v, 20)])],
    )


def intrathecal_baclofen_consideration() -> None:
    f = "intrathecal-baclofen-consideration"
    v = R4
    case(
        f,
        "fires-r4-select-tizanidine-with-active-baclofen-and-dantrolene-als",
        "order-select",
        v,
        [med_order(v, "mr-tiz", TIZ4, dosages=[tid(v, 4)])],
        conditions=[als(v)],
        orders=[active(v, "mr-bac", BAC20_SCD, [tid(v, 20)]), active(v, "mr-dan", DAN25, [tid(v, 25)])],
        liver=[alt(v, 20, 10), ast(v, 20, 10)],
    )
    v = STU3
    case(
        f,
        "fires-stu3-sign-oral-baclofen-90-mg-alone-ms",
        "order-sign",
        v,
        [med_order(v, "req-bac", BAC10_SCD, dosages=[tid(v, 3, "{tbl}")])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-prescribe-tizanidine-active-baclofen-summed-80",
        "medication-prescribe",
        v,
        [med_order(v, "order-tiz", ZANAFLEX_TEXT, dosages=[tid(v, 4)])],
        conditions=[condition(v, "cond-sci", PARAPLEGIA_TEXT)],
        orders=[
            active(v, "mo-bac-20", BAC20_SCD, [dosage(v, 20, freq=2)]),
            active(v, "mo-bac-10", BAC10_SCD, [qid(v, 10)]),
        ],
    )
    v = R4
    case(
        f,
        "fires-r4-select-baclofen-with-unselected-tizanidine-draft-and-active-dantrolene",
        "order-select",
        v,
        [
            med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 10)]),
            med_order(v, "mr-tiz", TIZ_IN, dosages=[tid(v, 2)]),
        ],
        conditions=[condition(v, "cond-cp", CP_ICD10)],
        orders=[active(v, "mr-dan", DAN25, [tid(v, 25)])],
        liver=[alt(v, 20, 10), ast(v, 20, 10)],
    )
    case(
        f,
        "silent-r4-sign-baclofen-90-mg-no-condition-antispastic-alone-documents-nothing",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC_IN, dosages=[tid(v, 30)])],
    )
    # silent
    case(
        f,
        "silent-r4-select-tizanidine-with-active-intrathecal-baclofen-and-dantrolene",
        "order-select",
        v,
        [med_order(v, "mr-tiz", TIZ4, dosages=[tid(v, 4)])],
        conditions=[als(v)],
        orders=[
            active(v, "mr-it", GABLOFEN_TEXT, [daily(v, 300, "mcg", route="intrathecal")]),
            active(v, "mr-dan", DAN25, [tid(v, 25)]),
        ],
    )
    v = STU3
    case(
        f,
        "silent-stu3-sign-new-intrathecal-order-with-tizanidine-and-dantrolene",
        "order-sign",
        v,
        [
            med_order(
                v,
                "req-it",
                rx("1666613", None, "Baclofen 2 MG/ML Intrathecal Solution"),
                dosages=[daily(v, 100, "mcg", route="intrathecal")],
            )
        ],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
        orders=[active(v, "mr-tiz", TIZ4, [tid(v, 4)]), active(v, "mr-dan", DAN25, [tid(v, 25)])],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-oral-baclofen-60-mg-alone",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC20_SCD, dosages=[tid(v, 20)])],
        conditions=[als(v)],
    )
    v = DSTU2
    case(
        f,
        "silent-dstu2-select-tizanidine-with-only-baclofen-active",
        "order-select",
        v,
        [med_order(v, "order-tiz", TIZ4, dosages=[tid(v, 4)])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
        orders=[active(v, "mo-bac", BAC10_SCD, [tid(v, 10)])],
    )
    v = R4
    bac_active = active(v, "mr-bac", BAC20_SCD, [dosage(v, 20, freq=2)])
    case(
        f,
        "silent-r4-sign-statement-restating-order-based-on-counted-once",
        "order-sign",
        v,
        [med_order(v, "mr-tiz", TIZ4, dosages=[tid(v, 2)])],
        conditions=[als(v)],
        orders=[bac_active],
        statements=[
            statement(
                v, "ms-bac", BAC20_SCD, based_on="MedicationRequest/mr-bac", dosages=[dosage(v, 20, freq=2)]
            )
        ],
    )
    v = STU3
    case(
        f,
        "silent-stu3-sign-statement-same-ingredient-route-dose-counted-once",
        "order-sign",
        v,
        [med_order(v, "req-tiz", TIZ4, dosages=[tid(v, 2)])],
        conditions=[als(v)],
        orders=[active(v, "mr-bac", BAC20_SCD, [dosage(v, 20, freq=2, route="oral")])],
        statements=[
            statement(
                v, "ms-bac", rx("1292", "Baclofen", "baclofen"), dosages=[dosage(v, 40, freq=1, route="oral")]
            )
        ],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-tizanidine-with-baclofen-and-iv-ryanodex",
        "order-sign",
        v,
        [med_order(v, "mr-tiz", TIZ4, dosages=[tid(v, 4)])],
        conditions=[als(v)],
        orders=[
            active(v, "mr-bac", BAC10_SCD, [tid(v, 10)]),
            active(v, "mr-ryan", RYANODEX_TEXT, [daily(v, 250, route="iv")]),
        ],
    )


def antispastic_max_daily_dose() -> None:
    f = "antispastic-max-daily-dose"
    v = R4
    case(
        f,
        "fires-r4-sign-baclofen-30-mg-tid-90",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC_IN, dosages=[tid(v, 30, route="oral")])],
        conditions=[als(v)],
    )
    v = STU3
    case(
        f,
        "fires-stu3-select-tizanidine-3-tablets-4-mg-qid-48",
        "order-select",
        v,
        [med_order(v, "req-tiz", TIZ4, dosages=[qid(v, 3, "{tbl}")])],
        conditions=[condition(v, "cond-ms", MS_ICD10)],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-prescribe-dantrolene-150-mg-tid-450",
        "medication-prescribe",
        v,
        [med_order(v, "order-dan", DAN50_SBD, dosages=[tid(v, 150)])],
        liver=[alt(v, 20, 10), ast(v, 20, 10)],
    )
    v = R4
    case(
        f,
        "fires-r4-sign-tizanidine-prn-frequencymax-5-of-8-mg-40",
        "order-sign",
        v,
        [med_order(v, "mr-tiz", TIZ4, dosages=[dosage(v, 8, freq=1, freq_max=5, as_needed=True)])],
    )
    case(
        f,
        "fires-r4-sign-baclofen-dose-range-high-30-qid-120",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC10_SCD, dosages=[dosage(v, freq=4, dose_range=(20, 30))])],
    )
    v = STU3
    case(
        f,
        "fires-stu3-sign-dantrolene-0-15-g-tid-450",
        "order-sign",
        v,
        [med_order(v, "req-dan", DAN25, dosages=[tid(v, 0.15, "g")])],
        liver=[alt(v, 20, 10), ast(v, 20, 10)],
    )
    v = R4
    case(
        f,
        "fires-r4-select-sandbox-lioresal-20-mg-5-pills-daily-100",
        "order-select",
        v,
        [med_order(v, "request-123", BAC20_SBD, dosages=[dosage(v, 5, "{pill}", freq=1)], loose=True)],
        loose=True,
    )
    case(
        f,
        "fires-r4-sign-tizanidine-12-mg-q6-8h-periodmax-ignored-48",
        "order-sign",
        v,
        [
            med_order(
                v, "mr-tiz", TIZ_IN, dosages=[dosage(v, 12, freq=1, period=6, period_max=8, period_unit="h")]
            )
        ],
    )
    case(
        f,
        "fires-r4-sign-tizanidine-12000-mcg-qid-48",
        "order-sign",
        v,
        [med_order(v, "mr-tiz", TIZ4, dosages=[qid(v, 12000, "mcg")])],
    )
    # silent
    case(
        f,
        "silent-r4-sign-baclofen-exactly-80",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC20_SCD, dosages=[qid(v, 20)])],
        conditions=[als(v)],
    )
    v = STU3
    case(
        f,
        "silent-stu3-select-tizanidine-8-mg-qid-32",
        "order-select",
        v,
        [med_order(v, "req-tiz", TIZ4, dosages=[qid(v, 8)])],
    )
    v = DSTU2
    case(
        f,
        "silent-dstu2-sign-dantrolene-100-mg-qid-400",
        "order-sign",
        v,
        [med_order(v, "order-dan", DAN100, dosages=[qid(v, 100)])],
        liver=[alt(v, 20, 10), ast(v, 20, 10)],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-baclofen-dose-range-10-to-20-qid-high-80",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC10_SCD, dosages=[dosage(v, freq=4, dose_range=(10, 20))])],
    )
    case(
        f,
        "silent-r4-select-sandbox-baclofen-pill-no-strength",
        "order-select",
        v,
        [med_order(v, "request-123", BAC_PILL, dosages=[dosage(v, 5, "{pill}", freq=4)], loose=True)],
        loose=True,
    )
    case(
        f,
        "silent-r4-select-sandbox-lioresal-10-mg-1-pill-4-times-40",
        "order-select",
        v,
        [med_order(v, "request-123", bac10(), dosages=[dosage(v, 1, "{pill}", freq=4)], loose=True)],
        loose=True,
    )
    case(
        f,
        "silent-r4-select-unselected-baclofen-120-mg-draft-tizanidine-selected",
        "order-select",
        v,
        [
            med_order(v, "mr-tiz", TIZ4, dosages=[tid(v, 2)]),
            med_order(v, "mr-bac", BAC_IN, dosages=[qid(v, 30)]),
        ],
    )
    case(
        f,
        "silent-r4-sign-intrathecal-baclofen-900-mcg",
        "order-sign",
        v,
        [med_order(v, "mr-it", GABLOFEN_TEXT, dosages=[daily(v, 900, "mcg", route="intrathecal")])],
        conditions=[als(v)],
    )
    case(
        f,
        "silent-r4-sign-iv-dantrolene-500-mg",
        "order-sign",
        v,
        [med_order(v, "mr-dan-iv", DAN_IV_CODE, dosages=[daily(v, 500, route="iv")])],
    )
    v = STU3
    case(
        f,
        "silent-stu3-sign-baclofen-no-dose",
        "order-sign",
        v,
        [med_order(v, "req-bac", BAC10_SCD, dosages=[dosage(v, freq=4)])],
    )
    v = DSTU2
    case(
        f,
        "silent-dstu2-sign-stop-baclofen-draft-not-a-new-order",
        "order-sign",
        v,
        [med_order(v, "order-bac-stop", BAC20_SCD, status="stopped", dosages=[qid(v, 40)])],
        orders=[active(v, "mo-bac", BAC20_SCD, [qid(v, 40)])],
    )


def baclofen_renal_impairment() -> None:
    f = "baclofen-renal-impairment"
    v = R4
    case(
        f,
        "fires-r4-sign-egfr-25-recent",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 5)])],
        conditions=[als(v)],
        renal=[egfr(v, 25, 10)],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-select-ckd-stage-4-n18-4",
        "order-select",
        v,
        [med_order(v, "order-bac", LIORESAL_TEXT, dosages=[tid(v, 5)])],
        conditions=[condition(v, "cond-ckd", CKD4_ICD10)],
    )
    v = STU3
    case(
        f,
        "fires-stu3-prescribe-esrd-snomed",
        "medication-prescribe",
        v,
        [med_order(v, "req-bac", BAC10_SCD, dosages=[tid(v, 5)])],
        conditions=[condition(v, "cond-esrd", ESRD_SNOMED)],
    )
    v = R4
    case(
        f,
        "fires-r4-select-latest-egfr-25-after-older-45",
        "order-select",
        v,
        [med_order(v, "mr-bac", BAC_IN, dosages=[tid(v, 5)])],
        renal=[egfr(v, 45, 60, EGFR_MDRD), egfr(v, 25, 5, EGFR_2021)],
    )
    v = DSTU2
    case(
        f,
        "fires-dstu2-sign-dialysis-text",
        "order-sign",
        v,
        [med_order(v, "order-bac", BAC10_SCD, dosages=[tid(v, 5)])],
        conditions=[condition(v, "cond-hd", DIALYSIS_TEXT)],
    )
    v = R4
    case(
        f,
        "fires-r4-sign-egfr-value-string-less-than-15",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 5)])],
        renal=[observation(v, "egfr-text", EGFR_CKDEPI, None, "", age_days=3, value_string="<15")],
    )
    # silent
    case(
        f,
        "silent-r4-sign-egfr-exactly-30",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 5)])],
        renal=[egfr(v, 30, 3)],
    )
    case(
        f,
        "silent-r4-sign-baclofen-mcg-dose-implies-intrathecal-egfr-20",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC_IN, dosages=[daily(v, 100, "mcg")])],
        renal=[egfr(v, 20, 3)],
    )
    case(
        f,
        "silent-r4-sign-egfr-25-but-120-days-old",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 5)])],
        conditions=[als(v)],
        renal=[egfr(v, 25, 120)],
    )
    v = STU3
    case(
        f,
        "silent-stu3-select-egfr-45",
        "order-select",
        v,
        [med_order(v, "req-bac", BAC10_SCD, dosages=[tid(v, 5)])],
        renal=[egfr(v, 45, 10)],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-latest-egfr-45-after-older-25",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 5)])],
        renal=[egfr(v, 25, 60), egfr(v, 45, 5)],
    )
    v = DSTU2
    case(
        f,
        "silent-dstu2-prescribe-ckd-stage-3",
        "medication-prescribe",
        v,
        [med_order(v, "order-bac", BAC10_SCD, dosages=[tid(v, 5)])],
        conditions=[condition(v, "cond-ckd", CKD3_ICD10)],
    )
    v = R4
    case(
        f,
        "silent-r4-sign-intrathecal-baclofen-with-egfr-20",
        "order-sign",
        v,
        [med_order(v, "mr-it", GABLOFEN_TEXT, dosages=[daily(v, 100, "mcg", route="intrathecal")])],
        conditions=[als(v)],
        renal=[egfr(v, 20, 5)],
    )
    case(
        f,
        "silent-r4-sign-ckd-stage-4-entered-in-error",
        "order-sign",
        v,
        [med_order(v, "mr-bac", BAC10_SCD, dosages=[tid(v, 5)])],
        conditions=[condition(v, "cond-ckd", CKD4_ICD10, verification="entered-in-error")],
    )
    case(
        f,
        "silent-r4-sign-new-tizanidine-with-egfr-20",
        "order-sign",
        v,
        [med_order(v, "mr-tiz", TIZ4, dosages=[tid(v, 2)])],
        renal=[egfr(v, 20, 5)],
    )


# ------------------------------------------------------------------------------ benign baseline
BENIGN = [
    ("amlodipine", rx("197361", "amlodipine 5 MG Oral Tablet"), 5),
    ("lisinopril", rx("314076", "lisinopril 10 MG Oral Tablet"), 10),
    ("metformin", rx("861007", "metformin hydrochloride 500 MG Oral Tablet"), 500),
    ("atorvastatin", rx("617312", "atorvastatin 40 MG Oral Tablet"), 40),
    ("levothyroxine", {"text": "Levothyroxine sodium 50 mcg tablet"}, 0.05),
    ("omeprazole", {"text": "Omeprazole 20 mg delayed release capsule"}, 20),
    ("sertraline", {"text": "Sertraline 50 mg tablet"}, 50),
    ("riluzole", {"text": "Riluzole 50 MG Oral Tablet"}, 50),
    ("edaravone", {"text": "Edaravone 105 mg/5 mL oral suspension (Radicava ORS)"}, 105),
    ("gabapentin", {"text": "Gabapentin 300 mg capsule"}, 300),
    ("acetaminophen", {"text": "Acetaminophen 500 mg tablet"}, 500),
    ("ibuprofen", {"text": "Ibuprofen 400 mg tablet"}, 400),
    ("amoxicillin", {"text": "Amoxicillin 500 mg capsule"}, 500),
    ("warfarin", {"text": "Warfarin sodium 5 mg tablet"}, 5),
    ("apixaban", {"text": "Apixaban 5 mg tablet (Eliquis)"}, 5),
    ("insulin-glargine", {"text": "Insulin glargine 100 units/mL pen (Lantus)"}, None),
    ("prednisone", {"text": "Prednisone 20 mg tablet"}, 20),
    ("ondansetron", {"text": "Ondansetron 4 mg orally disintegrating tablet"}, 4),
    ("docusate", {"text": "Docusate sodium 100 mg capsule"}, 100),
    ("vitamin-d", {"text": "Cholecalciferol (vitamin D3) 1000 unit tablet"}, None),
    ("furosemide", {"text": "Furosemide 40 mg tablet"}, 40),
    ("metoprolol", {"text": "Metoprolol succinate ER 50 mg tablet"}, 50),
    ("tamsulosin", {"text": "Tamsulosin 0.4 mg capsule"}, 0.4),
    ("losartan", {"text": "Losartan potassium 50 mg tablet"}, 50),
    ("hydrochlorothiazide", {"text": "Hydrochlorothiazide 25 mg tablet"}, 25),
    ("montelukast", {"text": "Montelukast 10 mg tablet"}, 10),
    ("albuterol-inhaler", {"text": "Albuterol sulfate HFA 90 mcg/actuation inhaler"}, None),
    ("fluoxetine", {"text": "Fluoxetine 20 mg capsule"}, 20),
    ("citalopram", {"text": "Citalopram 20 mg tablet"}, 20),
    ("trazodone", {"text": "Trazodone 50 mg tablet"}, 50),
    ("cyclobenzaprine", {"text": "Cyclobenzaprine 10 mg tablet (Flexeril)"}, 10),
    ("methocarbamol", {"text": "Methocarbamol 750 mg tablet (Robaxin)"}, 750),
    ("oxybutynin", {"text": "Oxybutynin chloride 5 mg tablet"}, 5),
    ("glycopyrrolate", {"text": "Glycopyrrolate 1 mg tablet for sialorrhea"}, 1),
]


# Drugs ordered for the ALS patient on baclofen + tizanidine; the others for a patient with no
# relevant history. ALS drugs (riluzole, edaravone), sialorrhoea, and the muscle relaxants outside
# our classes (cyclobenzaprine, methocarbamol) go to the ALS patient on purpose. Gabapentin does not:
# with an antispastic it is `antispastic-opioid-gabapentinoid` (second set of rules).
ALS_PATIENT = {
    "riluzole",
    "edaravone",
    "glycopyrrolate",
    "cyclobenzaprine",
    "methocarbamol",
    "oxybutynin",
    "sertraline",
    "omeprazole",
    "docusate",
    "acetaminophen",
    "ondansetron",
    "amlodipine",
    "levothyroxine",
    "apixaban",
    "trazodone",
    "albuterol-inhaler",
}


def baseline() -> None:
    f = "baseline"
    hooks = [
        ("order-sign", R4),
        ("order-select", R4),
        ("order-select", STU3),
        ("medication-prescribe", STU3),
        ("order-sign", DSTU2),
        ("medication-prescribe", DSTU2),
        ("order-select", DSTU2),
        ("order-sign", STU3),
    ]
    for i, (drug, concept, mg) in enumerate(BENIGN):
        hook, v = hooks[i % len(hooks)]
        dosages = [daily(v, mg)] if mg is not None else [dosage(v, freq=1)]
        draft = med_order(v, f"draft-{drug}", concept, dosages=dosages)
        if drug in ALS_PATIENT:  # ALS patient already on baclofen and tizanidine
            case(
                f,
                f"silent-{v.lower()}-{hook}-{drug}-als-on-baclofen-tizanidine",
                hook,
                v,
                [draft],
                conditions=[als(v, code=ALS_SNOMED if v != DSTU2 else ALS_ICD10)],
                orders=[active(v, "rx-bac", BAC10_SCD, [tid(v, 10)]), active(v, "rx-tiz", TIZ4, [tid(v, 4)])],
                renal=[egfr(v, 22, 10)],
            )
        else:  # no relevant history
            case(
                f,
                f"silent-{v.lower()}-{hook}-{drug}-no-history",
                hook,
                v,
                [draft],
                conditions=[condition(v, "cond-htn", HYPERTENSION), condition(v, "cond-dm", DIABETES)],
            )
    # the sandbox's first order-select call: a draft with no drug yet
    v = R4
    case(
        f,
        "silent-r4-order-select-sandbox-first-call-no-drug",
        "order-select",
        v,
        [
            {
                "resourceType": "MedicationRequest",
                "id": "request-123",
                "status": "draft",
                "subject": {"reference": f"Patient/{PATIENT}"},
                "authoredOn": TODAY,
            }
        ],
        loose=True,
        conditions=[als(v)],
        orders=[active(v, "rx-bac", BAC10_SCD, [tid(v, 10)])],
    )


# ============================================================================== issue 10: real records
# Shapes seen in public synthetic records (Synthea R4 / STU3 / DSTU2) and in EHR traffic: eGFR under
# the older MDRD code, creatinine clearance, HL7 timing abbreviations, packet doses, ALT without a
# range, medicationReference to included or compounded Medications, Synthea's condition wording.
EGFR_MDRD_OLD = (
    "33914-3",
    "Glomerular filtration rate/1.73 sq M.predicted by Creatinine-based formula (MDRD)",
)
CRCL_CG = ("35591-7", "Creatinine renal clearance predicted by Cockcroft-Gault formula")
CRCL_24H = ("2164-2", "Creatinine renal clearance in 24 hour Urine and Serum or Plasma")
BRAIN_DAMAGE = cc(SNOMED, "275272006", "Brain damage - traumatic", "Brain damage - traumatic")
SCI_PARALYSIS = cc(
    SNOMED,
    "698754002",
    "Chronic paralysis due to lesion of spinal cord",
    "Chronic paralysis due to lesion of spinal cord",
)
CONCUSSION = cc(SNOMED, "110030002", "Concussion injury of brain", "Concussion injury of brain")
CONCUSSION_MILD = cc(SNOMED, "62106007", "Concussion with no loss of consciousness")
CONCUSSION_ICD10 = cc(ICD10, "S06.0X0A", "Concussion without loss of consciousness, initial encounter")
SPASTIC_QUAD_CP = {"text": "Spastic quadriplegic cerebral palsy"}
BAC_PACKET = {"text": "baclofen 20 MG per packet oral granules"}
NDC_ONLY = {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "0172-4096-60"}]}


def timed(version: str, dose: float, code: str, unit: str = "mg") -> JSON:
    """A dosage whose frequency is only a Timing.code (no repeat), as Epic and others send it."""
    d = dosage(version, dose, unit)
    d["timing"] = {
        "code": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": code}],
            "text": code,
        }
    }
    return d


def ended(version: str, rid: str, code: JSON) -> JSON:
    """A condition with no clinical status and an abatement in the past."""
    c = condition(version, rid, code, clinical=None)
    if version == DSTU2:
        c["abatementBoolean"] = True
    else:
        c["abatementDateTime"] = days_ago(30)
    return c


def issue10_labs() -> None:
    f = "baclofen-renal-impairment"
    for v in (R4, STU3, DSTU2):
        case(
            f,
            f"fires-{v.lower()}-sign-egfr-mdrd-33914-3-22",
            "order-sign",
            v,
            [med_order(v, "draft-bac", BAC10_SCD, dosages=[tid(v, 5)])],
            renal=[egfr(v, 22, 10, test=EGFR_MDRD_OLD)],
        )
    case(
        f,
        "fires-r4-sign-creatinine-clearance-cockcroft-gault-newer-than-egfr",
        "order-sign",
        R4,
        [med_order(R4, "draft-bac", BAC10_SCD, dosages=[tid(R4, 5)])],
        renal=[egfr(R4, 45, 30), observation(R4, "crcl-5d", CRCL_CG, 25, "mL/min", age_days=5)],
    )
    case(
        f,
        "fires-stu3-sign-creatinine-clearance-24h-urine-28",
        "order-sign",
        STU3,
        [med_order(STU3, "draft-bac", BAC10_SCD, dosages=[tid(STU3, 5)])],
        renal=[observation(STU3, "crcl-3d", CRCL_24H, 28, "mL/min", age_days=3)],
    )
    case(
        f,
        "silent-r4-sign-creatinine-clearance-older-than-normal-egfr",
        "order-sign",
        R4,
        [med_order(R4, "draft-bac", BAC10_SCD, dosages=[tid(R4, 5)])],
        renal=[egfr(R4, 45, 5), observation(R4, "crcl-30d", CRCL_CG, 25, "mL/min", age_days=30)],
    )
    f = "dantrolene-liver-monitoring"
    for v in (R4, STU3, DSTU2):
        case(
            f,
            f"fires-{v.lower()}-sign-alt-300-without-range-or-flag",
            "order-sign",
            v,
            [med_order(v, "draft-dan", DAN25, dosages=[daily(v, 25)])],
            liver=[alt(v, 300, 10, high=None, low=None), ast(v, 30, 10, high=None, low=None)],
        )
    case(
        f,
        "silent-r4-sign-alt-ast-35-without-range-or-flag",
        "order-sign",
        R4,
        [med_order(R4, "draft-dan", DAN25, dosages=[daily(R4, 25)])],
        liver=[alt(R4, 35, 10, high=None, low=None), ast(R4, 35, 10, high=None, low=None)],
    )


def issue10_conditions() -> None:
    f = "benzodiazepine-spasticity"
    diaz = [("r4", R4), ("stu3", STU3), ("dstu2", DSTU2)]
    for tag, v in diaz:
        case(
            f,
            f"fires-{tag}-sign-diazepam-brain-damage-traumatic",
            "order-sign",
            v,
            [med_order(v, "draft-diaz", DIAZ5_SCD, dosages=[tid(v, 5)])],
            conditions=[condition(v, "cond-tbi", BRAIN_DAMAGE)],
        )
        case(
            f,
            f"silent-{tag}-sign-diazepam-concussion-only",
            "order-sign",
            v,
            [med_order(v, "draft-diaz", DIAZ5_SCD, dosages=[tid(v, 5)])],
            conditions=[
                condition(v, "cond-c1", CONCUSSION),
                condition(v, "cond-c2", CONCUSSION_MILD),
                condition(v, "cond-c3", CONCUSSION_ICD10),
            ],
        )
        case(
            f,
            f"silent-{tag}-sign-diazepam-brain-damage-abated-no-status",
            "order-sign",
            v,
            [med_order(v, "draft-diaz", DIAZ5_SCD, dosages=[tid(v, 5)])],
            conditions=[ended(v, "cond-tbi", BRAIN_DAMAGE)],
        )
    case(
        f,
        "fires-stu3-sign-diazepam-chronic-paralysis-spinal-cord",
        "order-sign",
        STU3,
        [med_order(STU3, "draft-diaz", DIAZ5_SCD, dosages=[tid(STU3, 5)])],
        conditions=[condition(STU3, "cond-sci", SCI_PARALYSIS)],
    )
    case(
        f,
        "fires-dstu2-sign-diazepam-spastic-quadriplegic-cerebral-palsy",
        "order-sign",
        DSTU2,
        [med_order(DSTU2, "draft-diaz", DIAZ5_SCD, dosages=[tid(DSTU2, 5)])],
        conditions=[condition(DSTU2, "cond-cp", SPASTIC_QUAD_CP)],
    )
    f = "intrathecal-baclofen-consideration"
    case(
        f,
        "silent-r4-sign-baclofen-90-mg-for-alcohol-use-disorder",
        "order-sign",
        R4,
        [
            med_order(
                R4, "draft-bac", BAC10_SCD, dosages=[tid(R4, 30)], reason={"text": "Alcohol use disorder"}
            )
        ],
    )
    case(
        f,
        "silent-stu3-sign-baclofen-90-mg-for-hiccups",
        "order-sign",
        STU3,
        [
            med_order(
                STU3, "draft-bac", BAC10_SCD, dosages=[tid(STU3, 30)], reason={"text": "Intractable hiccups"}
            )
        ],
    )
    case(
        f,
        "fires-r4-sign-baclofen-90-mg-reason-spasticity",
        "order-sign",
        R4,
        [med_order(R4, "draft-bac", BAC10_SCD, dosages=[tid(R4, 30)], reason=SPASTICITY_SNOMED)],
    )


def issue10_doses() -> None:
    f = "antispastic-max-daily-dose"
    for v in (R4, STU3, DSTU2):
        case(
            f,
            f"fires-{v.lower()}-sign-baclofen-50-mg-timing-code-bid-100",
            "order-sign",
            v,
            [med_order(v, "draft-bac", BAC10_SCD, dosages=[timed(v, 50, "BID")])],
        )
    case(
        f,
        "fires-r4-sign-baclofen-20-mg-timing-code-q4h-120",
        "order-sign",
        R4,
        [med_order(R4, "draft-bac", BAC10_SCD, dosages=[timed(R4, 20, "Q4H")])],
    )
    case(
        f,
        "silent-r4-sign-baclofen-20-mg-timing-code-tid-60",
        "order-sign",
        R4,
        [med_order(R4, "draft-bac", BAC10_SCD, dosages=[timed(R4, 20, "TID")])],
    )
    case(
        f,
        "silent-r4-sign-baclofen-50-mg-meal-event-timing-code",
        "order-sign",
        R4,
        [med_order(R4, "draft-bac", BAC10_SCD, dosages=[timed(R4, 50, "AC")])],
    )
    for v in (R4, DSTU2):
        case(
            f,
            f"fires-{v.lower()}-sign-baclofen-20-mg-packet-5-times-daily-100",
            "order-sign",
            v,
            [med_order(v, "draft-bac", BAC_PACKET, dosages=[dosage(v, 1, "packet", freq=5)])],
        )
    case(
        f,
        "silent-r4-sign-baclofen-20-mg-packet-3-times-daily-60",
        "order-sign",
        R4,
        [med_order(R4, "draft-bac", BAC_PACKET, dosages=[dosage(R4, 1, "packet", freq=3)])],
    )


def issue10_medication_references() -> None:
    f = "cns-depressant-combination"
    for v in (R4, STU3, DSTU2):
        med = medication("med-bac", BAC10_SCD)
        case(
            f,
            f"fires-{v.lower()}-sign-diazepam-active-baclofen-by-included-medication",
            "order-sign",
            v,
            [med_order(v, "draft-diaz", DIAZ5_SCD, dosages=[tid(v, 5)])],
            orders=[active(v, "active-bac", None, med_ref="Medication/med-bac")],
            extra_prefetch=[med],
        )
    compounded = {
        "resourceType": "Medication",
        "id": "med-compound",
        "ingredient": [{"itemCodeableConcept": BAC_IN}],
    }
    case(
        f,
        "fires-r4-sign-diazepam-active-compounded-baclofen-by-ingredient",
        "order-sign",
        R4,
        [med_order(R4, "draft-diaz", DIAZ5_SCD, dosages=[tid(R4, 5)])],
        orders=[active(R4, "active-bac", None, med_ref="Medication/med-compound")],
        extra_prefetch=[compounded],
    )
    compounded_stu3 = {
        "resourceType": "Medication",
        "id": "med-compound",
        "isBrand": False,
        "ingredient": [{"itemCodeableConcept": {"text": "Baclofen powder"}}],
    }
    case(
        f,
        "fires-stu3-sign-diazepam-active-compounded-baclofen-by-ingredient-name",
        "order-sign",
        STU3,
        [med_order(STU3, "draft-diaz", DIAZ5_SCD, dosages=[tid(STU3, 5)])],
        orders=[active(STU3, "active-bac", None, med_ref="Medication/med-compound")],
        extra_prefetch=[compounded_stu3],
    )
    ndc = medication("med-ndc", NDC_ONLY)
    case(
        f,
        "silent-r4-sign-diazepam-active-medication-ndc-code-without-display",
        "order-sign",
        R4,
        [med_order(R4, "draft-diaz", DIAZ5_SCD, dosages=[tid(R4, 5)])],
        orders=[active(R4, "active-ndc", None, med_ref="Medication/med-ndc")],
        extra_prefetch=[ndc],
    )


def issue10_als_combination() -> None:
    f = "baclofen-dantrolene-combination"
    v = DSTU2
    it = med_order(v, "draft-it", BAC_IT_CODE, dosages=[daily(v, 100, "mcg", route="intrathecal")])
    dan = med_order(v, "draft-dan", DAN25, dosages=[daily(v, 25)])
    case(
        f,
        "fires-dstu2-select-new-intrathecal-baclofen-co-draft-oral-dantrolene-als",
        "order-select",
        v,
        [it, dan],
        select=[it],
        conditions=[als(v)],
    )
    case(
        f,
        "fires-r4-sign-new-dantrolene-active-baclofen-als",
        "order-sign",
        R4,
        [med_order(R4, "draft-dan", DAN25, dosages=[daily(R4, 25)])],
        orders=[active(R4, "active-bac", BAC10_SCD, [tid(R4, 10)])],
        conditions=[als(R4)],
    )


def code_only(system: str, code: str) -> JSON:
    """A coding with no display and no text, so only the code can match (words cannot)."""
    return {"coding": [{"system": system, "code": code}]}


def timed_as(version: str, dose: float, code: str, system: str) -> JSON:
    """A dosage whose frequency is only a Timing.code from `system` (HL7 v2 / v3 timing tables)."""
    d = dosage(version, dose)
    d["timing"] = {"code": {"coding": [{"system": system, "code": code}], "text": code}}
    return d


V2_REPEAT = "http://terminology.hl7.org/CodeSystem/v2-0335"
V3_EVENT = "http://terminology.hl7.org/CodeSystem/v3-TimingEvent"


def issue10_condition_descendants() -> None:
    """Condition value sets built from disorder concepts and their subtypes (PRIMIS clusters):
    each condition is coded only (no display, no text), so it is the code that counts."""
    f = "benzodiazepine-spasticity"
    fires = [
        ("r4", R4, "spastic-cerebral-palsy-230773005", "230773005"),
        ("dstu2", DSTU2, "bilateral-spastic-cerebral-palsy-904531000000100", "904531000000100"),
        ("r4", R4, "chronic-progressive-ms-230373008", "230373008"),
        ("dstu2", DSTU2, "chronic-incomplete-quadriplegia-c1-c4-698742002", "698742002"),
        ("stu3", STU3, "paralysis-due-to-lesion-of-spinal-cord-372310001", "372310001"),
        ("r4", R4, "juvenile-primary-lateral-sclerosis-717964007-als", "717964007"),
        ("stu3", STU3, "hereditary-spastic-paraplegia-39912006", "39912006"),
        ("r4", R4, "traumatic-hemorrhage-of-thalamus-737231005", "737231005"),
    ]
    for tag, v, name, code in fires:
        case(
            f,
            f"fires-{tag}-sign-diazepam-code-only-{name}",
            "order-sign",
            v,
            [med_order(v, "draft-diaz", DIAZ5_SCD, dosages=[tid(v, 5)])],
            conditions=[condition(v, "cond-1", code_only(SNOMED, code))],
        )
    for tag, v in (("r4", R4), ("dstu2", DSTU2)):
        case(
            f,
            f"silent-{tag}-sign-diazepam-code-only-postconcussion-syndrome-40425004",
            "order-sign",
            v,
            [med_order(v, "draft-diaz", DIAZ5_SCD, dosages=[tid(v, 5)])],
            conditions=[condition(v, "cond-1", code_only(SNOMED, "40425004"))],
        )
    case(
        f,
        "silent-r4-sign-diazepam-code-only-personal-history-of-tbi-z87-820",
        "order-sign",
        R4,
        [med_order(R4, "draft-diaz", DIAZ5_SCD, dosages=[tid(R4, 5)])],
        conditions=[condition(R4, "cond-1", code_only(ICD10, "Z87.820"))],
    )
    f = "antispastic-max-daily-dose"
    for v in (R4, DSTU2):
        case(
            f,
            f"silent-{v.lower()}-sign-tizanidine-18-mg-timing-code-q12h-36",
            "order-sign",
            v,
            [med_order(v, "draft-tiz", TIZ4, dosages=[timed_as(v, 18, "Q12H", V2_REPEAT)])],
        )
        case(
            f,
            f"fires-{v.lower()}-sign-tizanidine-20-mg-timing-code-q12h-40",
            "order-sign",
            v,
            [med_order(v, "draft-tiz", TIZ4, dosages=[timed_as(v, 20, "Q12H", V2_REPEAT)])],
        )
    f = "baclofen-renal-impairment"
    for v in (R4, DSTU2):
        case(
            f,
            f"fires-{v.lower()}-sign-code-only-ckd-stage-4-snomed-431857002",
            "order-sign",
            v,
            [med_order(v, "draft-bac", BAC10_SCD, dosages=[tid(v, 5)])],
            conditions=[condition(v, "cond-ckd", code_only(SNOMED, "431857002"))],
        )
    f = "dantrolene-hepatic-disease"
    case(
        f,
        "fires-r4-sign-code-only-hepatic-coma-due-to-acute-hepatic-failure-1082511000119102",
        "order-sign",
        R4,
        [med_order(R4, "draft-dan", DAN25, dosages=[daily(R4, 25)])],
        conditions=[condition(R4, "cond-liver", code_only(SNOMED, "1082511000119102"))],
        liver=[alt(R4, 30, 20), ast(R4, 30, 20)],
    )
    f = "antispastic-max-daily-dose"
    case(
        f,
        "fires-r4-sign-baclofen-90-mg-timing-code-hs-90",
        "order-sign",
        R4,
        [med_order(R4, "draft-bac", BAC10_SCD, dosages=[timed_as(R4, 90, "HS", V3_EVENT)])],
    )
    case(
        f,
        "silent-r4-sign-baclofen-40-mg-timing-code-hs-40",
        "order-sign",
        R4,
        [med_order(R4, "draft-bac", BAC10_SCD, dosages=[timed_as(R4, 40, "HS", V3_EVENT)])],
    )


BUILDERS = [
    baclofen_dantrolene_combination,
    benzodiazepine_spasticity,
    cns_depressant_combination,
    dantrolene_hepatic_disease,
    dantrolene_liver_monitoring,
    baclofen_abrupt_withdrawal,
    intrathecal_baclofen_consideration,
    antispastic_max_daily_dose,
    baclofen_renal_impairment,
    baseline,
    issue10_labs,
    issue10_conditions,
    issue10_doses,
    issue10_medication_references,
    issue10_als_combination,
    issue10_condition_descendants,
    *second_set_builders(sys.modules[__name__]),
]


def build() -> list[tuple[str, str, JSON]]:
    CASES.clear()
    for builder in BUILDERS:
        builder()
    names = [(folder, name) for folder, name, _ in CASES]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"duplicate case names: {sorted(duplicates)}")
    for folder, name in names:
        if not name.startswith(("fires-", "silent-")) or (
            folder == "baseline" and not name.startswith("silent-")
        ):
            raise SystemExit(f"bad case name {folder}/{name}")
    return list(CASES)


def write(cases: list[tuple[str, str, JSON]]) -> None:
    wanted = {(GOLDEN / folder / f"{name}.request.json") for folder, name, _ in cases}
    for old in GOLDEN.glob("*/*.request.json"):  # drop cases no longer built, with their responses
        if old not in wanted:
            old.unlink()
            response = old.with_name(old.name.replace(".request.json", ".response.json"))
            response.unlink(missing_ok=True)
    for folder, name, body in cases:
        path = GOLDEN / folder / f"{name}.request.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str]) -> int:
    cases = build()
    write(cases)
    counts: dict[str, list[int]] = {}
    for folder, name, _ in cases:
        c = counts.setdefault(folder, [0, 0])
        c[0 if name.startswith("fires-") else 1] += 1
    for folder, (fires, silent) in sorted(counts.items()):
        print(f"{folder:40s} fires {fires:3d}  silent {silent:3d}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
