"""Golden cases of the second set of rules (2026-12), built with the helpers of tools/golden_cases.py.

`second_set_builders(g)` takes the golden_cases module itself (whether it runs as a script or is
imported), so the cases land in the same CASES list and use the same FHIR-version builders. Each
rule has cases that fire and that stay silent in R4, STU3 and DSTU2: both directions of every
symmetric pair, the exceptions the specification names, and the age and eGFR boundaries (the test
clock is 2026-11-21, so a patient born 1961-11-21 is 65 on the order's date and one born
1961-11-22 is 64).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

JSON = dict[str, Any]


def second_set_builders(g: ModuleType) -> list[Callable[[], None]]:  # noqa: C901 - one closure per rule
    R4, STU3, DSTU2 = g.R4, g.STU3, g.DSTU2
    rx, cc, SNOMED, ICD10 = g.rx, g.cc, g.SNOMED, g.ICD10
    med_order, active, condition, observation = g.med_order, g.active, g.condition, g.observation
    tid, qid, daily, dosage = g.tid, g.qid, g.daily, g.dosage

    # ---------------------------------------------------------------- drugs (codes from cards/valuesets)
    oxy5 = rx(
        "1049621", "oxycodone hydrochloride 5 MG Oral Tablet", "oxycodone hydrochloride 5 MG Oral Tablet"
    )
    percocet = rx("1049640", "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet [Percocet]")
    morphine15 = rx("892582", "morphine sulfate 15 MG Oral Tablet")
    fentanyl_patch = rx("245134", "72 HR fentanyl 0.025 MG/HR Transdermal System")
    ultram_text = {"text": "Ultram 50 mg tablet"}
    gaba300 = rx("310431", "gabapentin 300 MG Oral Capsule", "gabapentin 300 MG Oral Capsule")
    prega75 = rx("483450", "pregabalin 75 MG Oral Capsule")
    cipro_text = {"text": "Ciprofloxacin 500 mg tablet"}
    cipro_in = rx("2551", "Ciprofloxacin")
    fluvox_text = {"text": "Fluvoxamine maleate 50 mg tablet"}
    famotidine_in = rx("4278", "Famotidine")
    acyclovir_text = {"text": "Acyclovir 400 mg tablet"}
    verapamil_in = rx("11170", "Verapamil")
    combined_pill = rx(
        "214558", "Ethinyl Estradiol / Levonorgestrel", "Ethinyl estradiol / levonorgestrel oral tablet"
    )
    amoxicillin_text = {"text": "Amoxicillin 500 mg capsule"}
    clonidine_in = rx("2599", "Clonidine")
    guanfacine_text = {"text": "Guanfacine ER 1 mg tablet (Intuniv)"}
    methyldopa_in = rx("6876", "Methyldopa")
    lisinopril = rx("314076", "lisinopril 10 MG Oral Tablet")
    riluzole_text = {"text": "Riluzole 50 MG Oral Tablet"}
    riluzole_code = rx("199206")
    rilutek_text = {"text": "Rilutek 50 mg film-coated tablet"}
    estradiol_in = rx("4083", "Estradiol")
    # contraceptives as Synthea writes them: RxNorm code only, the name hides the ingredient
    trinessa_code = rx("751905")  # Trinessa 28 Day Pack (ethinyl estradiol / norgestimate)
    xulane_code = rx("1536586")  # Xulane ... Weekly Transdermal System (a patch: not oral)
    ee_patch_text = {
        "text": "168 HR Ethinyl Estradiol 0.00146 MG/HR / norelgestromin 0.00625 MG/HR Transdermal System"
    }
    nuvaring_code = rx("1367439")  # NuvaRing ... Vaginal Ring (etonogestrel / ethinyl estradiol)
    estradiol_text = {"text": "Estradiol 1 mg tablet"}

    # ---------------------------------------------------------------- conditions and results
    niv_text = {"text": "Dependence on non-invasive ventilation (nocturnal BiPAP)"}
    crf_snomed = cc(SNOMED, "39871006", "Chronic respiratory failure (disorder)")
    vent_icd = cc(ICD10, "Z99.11", "Dependence on respirator [ventilator] status")
    acute_on_chronic = cc(ICD10, "J96.21", "Acute and chronic respiratory failure with hypoxia")
    acute_rf = cc(ICD10, "J96.0", "Acute respiratory failure")
    ckd3a = cc(ICD10, "N18.31", "Chronic kidney disease, stage 3a")
    ckd3b_text = {"text": "Chronic kidney disease stage 3b"}
    fvc_test = ("19872-1", "FVC measured/predicted")

    def fvc(v: str, value: float, age_days: int) -> JSON:
        return observation(v, f"fvc-{age_days}d", fvc_test, value, "%", age_days=age_days)

    def patient(birth: str | None, gender: str | None = "female") -> JSON:
        p: JSON = {"resourceType": "Patient", "id": g.PATIENT}
        if gender is not None:
            p["gender"] = gender
        if birth is not None:
            p["birthDate"] = birth
        return p

    def case(
        folder: str, name: str, hook: str, v: str, drafts: list[JSON], *, who: JSON | None = None, **kw: Any
    ) -> None:
        body = g.hook_request(hook, v, drafts, name=f"{folder}/{name}", **kw)
        if who is not None:
            body["prefetch"]["patient"] = who
        g.CASES.append((folder, name, body))

    def draft(v: str, rid: str, concept: JSON, *dosages: JSON, **kw: Any) -> JSON:
        return med_order(v, rid, concept, dosages=list(dosages) or [daily(v, 1, "{tbl}")], **kw)

    def stop(v: str, rid: str, concept: JSON) -> JSON:
        """A draft that stops a drug: doNotPerform in R4, status stopped elsewhere."""
        if v == R4:
            return med_order(v, rid, concept, do_not_perform=True)
        return med_order(v, rid, concept, status="stopped")

    # ---------------------------------------------------------------- the rules
    def tizanidine_cyp1a2_inhibitor() -> None:
        f = "tizanidine-cyp1a2-inhibitor"
        v = R4
        case(
            f,
            "fires-r4-sign-new-tizanidine-active-ciprofloxacin-critical",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[active(v, "rx-cipro", cipro_text, [dosage(v, 500, freq=2)])],
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-ciprofloxacin-active-tizanidine-critical",
            "order-select",
            v,
            [draft(v, "draft-cipro", cipro_in, dosage(v, 500, freq=2))],
            orders=[active(v, "rx-tiz", g.TIZ4, [tid(v, 4)])],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-sign-new-tizanidine-active-fluvoxamine-critical",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ_IN, tid(v, 2))],
            orders=[active(v, "rx-fluvox", fluvox_text, [daily(v, 50)])],
        )
        v = R4
        case(
            f,
            "fires-r4-prescribe-new-tizanidine-famotidine-and-acyclovir-warning",
            "medication-prescribe",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[
                active(v, "rx-famo", famotidine_in, [daily(v, 20)]),
                active(v, "rx-acv", acyclovir_text, [tid(v, 400)]),
            ],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-select-new-verapamil-active-tizanidine-warning",
            "order-select",
            v,
            [draft(v, "draft-verapamil", verapamil_in, tid(v, 80))],
            orders=[active(v, "rx-tiz", g.TIZ4, [tid(v, 4)])],
        )
        v = STU3
        case(
            f,
            "fires-stu3-sign-new-tizanidine-oral-contraceptive-warning",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[active(v, "rx-ocp", combined_pill, [daily(v, 1, "{tbl}")])],
        )
        v = R4
        case(
            f,
            "fires-r4-sign-new-tizanidine-active-combined-pill-by-product-code-warning",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[active(v, "rx-ocp", trinessa_code, [daily(v, 1, "{tbl}")])],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-tizanidine-active-contraceptive-patch-by-product-code",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[active(v, "rx-patch", xulane_code, [daily(v, 1, "{patch}")])],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-tizanidine-active-ethinyl-estradiol-transdermal-system-by-name",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[active(v, "rx-patch", ee_patch_text, [daily(v, 1, "{patch}")])],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-ciprofloxacin-no-tizanidine-on-baclofen",
            "order-sign",
            v,
            [draft(v, "draft-cipro", cipro_text, dosage(v, 500, freq=2))],
            orders=[active(v, "rx-bac", g.BAC10_SCD, [tid(v, 10)])],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-tizanidine-ciprofloxacin-stopped-by-draft",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4)), stop(v, "draft-stop-cipro", cipro_text)],
            orders=[active(v, "rx-cipro", cipro_text, [dosage(v, 500, freq=2)])],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-new-tizanidine-with-amoxicillin",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[active(v, "rx-amox", amoxicillin_text, [tid(v, 500)])],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-tizanidine-stop-draft-with-ciprofloxacin",
            "order-sign",
            v,
            [stop(v, "draft-stop-tiz", g.TIZ4)],
            orders=[
                active(v, "rx-tiz", g.TIZ4, [tid(v, 2)]),
                active(v, "rx-cipro", cipro_text, [dosage(v, 500, freq=2)]),
            ],
        )

    def opioid_benzodiazepine() -> None:
        f = "opioid-benzodiazepine"
        v = R4
        case(
            f,
            "fires-r4-sign-new-diazepam-active-oxycodone",
            "order-sign",
            v,
            [draft(v, "draft-diaz", g.DIAZ5_SCD, tid(v, 5))],
            orders=[active(v, "rx-oxy", oxy5, [qid(v, 5)])],
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-percocet-active-lorazepam",
            "order-select",
            v,
            [draft(v, "draft-percocet", percocet, dosage(v, 1, "{tbl}", freq=4))],
            orders=[active(v, "rx-loraz", g.LORAZ1, [daily(v, 1)])],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-prescribe-new-midazolam-injection-active-fentanyl-patch",
            "medication-prescribe",
            v,
            [draft(v, "draft-midaz", g.MIDAZ_INJ, daily(v, 2))],
            orders=[active(v, "rx-fent", fentanyl_patch)],
        )
        v = R4
        case(
            f,
            "fires-r4-select-new-ultram-with-clonazepam-draft",
            "order-select",
            v,
            [
                draft(v, "draft-tramadol", ultram_text, qid(v, 50)),
                draft(v, "draft-clonaz", g.CLONAZ05, daily(v, 0.5)),
            ],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-diazepam-no-opioid",
            "order-sign",
            v,
            [draft(v, "draft-diaz", g.DIAZ5_SCD, tid(v, 5))],
            orders=[active(v, "rx-lis", lisinopril, [daily(v, 10)])],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-oxycodone-lorazepam-stopped-by-draft",
            "order-sign",
            v,
            [draft(v, "draft-oxy", oxy5, qid(v, 5)), stop(v, "draft-stop-loraz", g.LORAZ1)],
            orders=[active(v, "rx-loraz", g.LORAZ1, [daily(v, 1)])],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-new-oxycodone-no-benzodiazepine",
            "order-sign",
            v,
            [draft(v, "draft-oxy", oxy5, qid(v, 5))],
            orders=[active(v, "rx-lis", lisinopril, [daily(v, 10)])],
        )

    def antispastic_opioid_gabapentinoid() -> None:
        f = "antispastic-opioid-gabapentinoid"
        v = R4
        case(
            f,
            "fires-r4-sign-new-baclofen-active-oxycodone",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 10))],
            orders=[active(v, "rx-oxy", oxy5, [qid(v, 5)])],
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-gabapentin-active-tizanidine-als",
            "order-select",
            v,
            [draft(v, "draft-gaba", gaba300, tid(v, 300))],
            conditions=[g.als(v)],
            orders=[active(v, "rx-tiz", g.TIZ4, [tid(v, 4)])],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-prescribe-new-pregabalin-active-oral-dantrolene",
            "medication-prescribe",
            v,
            [draft(v, "draft-prega", prega75, dosage(v, 75, freq=2))],
            orders=[active(v, "rx-dan", g.DAN25, [daily(v, 25)])],
        )
        v = R4
        case(
            f,
            "fires-r4-select-new-morphine-with-baclofen-draft",
            "order-select",
            v,
            [draft(v, "draft-morph", morphine15, qid(v, 15)), draft(v, "draft-bac", g.BAC10_SCD, tid(v, 10))],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-iv-dantrolene-active-morphine",
            "order-sign",
            v,
            [
                draft(
                    v,
                    "draft-dan-iv",
                    g.RYANODEX_TEXT,
                    daily(v, 100),
                )
            ],
            orders=[active(v, "rx-morph", morphine15, [qid(v, 15)])],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-gabapentin-iv-dantrolene-active",
            "order-sign",
            v,
            [draft(v, "draft-gaba", gaba300, tid(v, 300))],
            orders=[active(v, "rx-dan-iv", g.DAN_IV_CODE, [daily(v, 100)])],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-new-baclofen-no-opioid-or-gabapentinoid",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 10))],
            orders=[active(v, "rx-lis", lisinopril, [daily(v, 10)])],
        )

    def benzodiazepine_duplication() -> None:
        f = "benzodiazepine-duplication"
        v = R4
        case(
            f,
            "fires-r4-sign-new-lorazepam-active-clonazepam",
            "order-sign",
            v,
            [draft(v, "draft-loraz", g.LORAZ1, daily(v, 1))],
            orders=[active(v, "rx-clonaz", g.CLONAZ05, [daily(v, 0.5)])],
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-alprazolam-with-temazepam-draft",
            "order-select",
            v,
            [
                draft(v, "draft-alpraz", g.ALPRAZ025, tid(v, 0.25)),
                draft(v, "draft-temaz", g.TEMAZ15, daily(v, 15)),
            ],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-sign-two-new-benzodiazepines-one-card",
            "order-sign",
            v,
            [draft(v, "draft-diaz", g.DIAZ5_SCD, tid(v, 5)), draft(v, "draft-loraz", g.LORAZ1, daily(v, 1))],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-diazepam-with-rectal-rescue-diastat",
            "order-sign",
            v,
            [draft(v, "draft-diaz", g.DIAZ5_SCD, tid(v, 5))],
            orders=[active(v, "rx-diastat", g.DIASTAT)],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-nasal-rescue-midazolam-active-clonazepam",
            "order-sign",
            v,
            [draft(v, "draft-nayzilam", g.NAYZILAM, daily(v, 5))],
            orders=[active(v, "rx-clonaz", g.CLONAZ05, [daily(v, 0.5)])],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-lorazepam-dose-change-same-ingredient",
            "order-sign",
            v,
            [draft(v, "draft-loraz", g.LORAZ1, dosage(v, 1, freq=2))],
            orders=[active(v, "rx-loraz", g.LORAZ1, [daily(v, 1)])],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-lorazepam-clonazepam-stopped-by-draft",
            "order-sign",
            v,
            [draft(v, "draft-loraz", g.LORAZ1, daily(v, 1)), stop(v, "draft-stop-clonaz", g.CLONAZ05)],
            orders=[active(v, "rx-clonaz", g.CLONAZ05, [daily(v, 0.5)])],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-midazolam-injection-active-clonazepam",
            "order-sign",
            v,
            [draft(v, "draft-midaz", g.MIDAZ_INJ, daily(v, 2))],
            orders=[active(v, "rx-clonaz", g.CLONAZ05, [daily(v, 0.5)])],
        )

    def dantrolene_hepatotoxic_comedication() -> None:
        f = "dantrolene-hepatotoxic-comedication"
        v = R4
        case(
            f,
            "fires-r4-sign-new-dantrolene-active-riluzole-als",
            "order-sign",
            v,
            [draft(v, "draft-dan", g.DAN25, daily(v, 25))],
            conditions=[g.als(v)],
            orders=[active(v, "rx-ril", riluzole_text, [dosage(v, 50, freq=2)])],
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-rilutek-active-dantrolene",
            "order-select",
            v,
            [draft(v, "draft-ril", rilutek_text, dosage(v, 50, freq=2))],
            orders=[active(v, "rx-dan", g.DAN25, [daily(v, 25)])],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-sign-woman-aged-36-new-dantrolene-active-estradiol",
            "order-sign",
            v,
            [draft(v, "draft-dan", g.DAN25, daily(v, 25))],
            who=patient("1990-11-21"),
            orders=[active(v, "rx-estr", estradiol_in, [daily(v, 1)])],
        )
        v = R4
        case(
            f,
            "fires-r4-prescribe-woman-aged-50-new-estradiol-active-dantrolene",
            "medication-prescribe",
            v,
            [draft(v, "draft-estr", estradiol_text, daily(v, 1))],
            who=patient("1976-05-02"),
            orders=[active(v, "rx-dan", g.DAN25, [daily(v, 25)])],
        )
        v = STU3
        case(
            f,
            "fires-stu3-sign-new-dantrolene-riluzole-by-product-code",
            "order-sign",
            v,
            [draft(v, "draft-dan", g.DAN25, daily(v, 25))],
            orders=[active(v, "rx-ril", riluzole_code, [dosage(v, 50, freq=2)])],
        )
        v = R4
        case(
            f,
            "fires-r4-sign-woman-aged-40-new-oral-dantrolene-active-vaginal-ring-by-product-code",
            "order-sign",
            v,
            [draft(v, "draft-dan", g.DAN25, daily(v, 25))],
            who=patient("1986-06-15"),
            orders=[active(v, "rx-ring", nuvaring_code, [daily(v, 1, "{ring}")])],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-woman-aged-35-new-dantrolene-active-estradiol",
            "order-sign",
            v,
            [draft(v, "draft-dan", g.DAN25, daily(v, 25))],
            who=patient("1990-11-22"),
            orders=[active(v, "rx-estr", estradiol_in, [daily(v, 1)])],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-man-aged-70-new-dantrolene-active-estradiol",
            "order-sign",
            v,
            [draft(v, "draft-dan", g.DAN25, daily(v, 25))],
            who=patient("1956-01-10", "male"),
            orders=[active(v, "rx-estr", estradiol_in, [daily(v, 1)])],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-select-new-riluzole-iv-dantrolene-active",
            "order-select",
            v,
            [draft(v, "draft-ril", riluzole_text, dosage(v, 50, freq=2))],
            orders=[active(v, "rx-dan-iv", g.REVONTO_TEXT, [daily(v, 20)])],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-woman-without-birth-date-new-dantrolene-estradiol",
            "order-sign",
            v,
            [draft(v, "draft-dan", g.DAN25, daily(v, 25))],
            who=patient(None),
            orders=[active(v, "rx-estr", estradiol_in, [daily(v, 1)])],
        )

    def tizanidine_hepatic() -> None:
        f = "tizanidine-hepatic"
        normal = [g.alt(R4, 30, 10), g.ast(R4, 25, 10)]
        v = R4
        case(
            f,
            "fires-r4-sign-new-tizanidine-hepatitis-c-warning",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            conditions=[condition(v, "cond-hcv", g.HEP_C_TEXT)],
            liver=normal,
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-tizanidine-alt-above-range-warning",
            "order-select",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            liver=[g.alt(v, 120, 12), g.ast(v, 40, 12)],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-sign-new-tizanidine-no-liver-tests-info",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
        )
        v = R4
        case(
            f,
            "fires-r4-prescribe-new-tizanidine-cirrhosis-and-no-tests-one-warning",
            "medication-prescribe",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            conditions=[condition(v, "cond-cirr", g.CIRRHOSIS_ICD10)],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-sign-new-tizanidine-tests-91-days-old-info",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            liver=[g.alt(v, 30, 91), g.ast(v, 25, 91)],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-tizanidine-normal-recent-tests",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            liver=normal,
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-tizanidine-resolved-hepatitis-normal-tests",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            conditions=[condition(v, "cond-hcv", g.HEP_C_TEXT, clinical="resolved")],
            liver=[g.alt(v, 30, 5), g.ast(v, 25, 5)],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-new-tizanidine-normal-tests-90-days-old",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            liver=[g.alt(v, 30, 90), g.ast(v, 25, 90)],
        )

        v = R4
        case(
            f,
            "silent-r4-sign-tizanidine-stop-draft-with-hepatitis",
            "order-sign",
            v,
            [stop(v, "draft-stop-tiz", g.TIZ4)],
            conditions=[condition(v, "cond-hcv", g.HEP_C_TEXT)],
            orders=[active(v, "rx-tiz", g.TIZ4, [tid(v, 2)])],
        )

    def tizanidine_alpha2_agonist() -> None:
        f = "tizanidine-alpha2-agonist"
        v = R4
        case(
            f,
            "fires-r4-sign-new-tizanidine-active-clonidine",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[active(v, "rx-clon", clonidine_in, [dosage(v, 0.1, freq=2)])],
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-guanfacine-active-tizanidine",
            "order-select",
            v,
            [draft(v, "draft-guan", guanfacine_text, daily(v, 1))],
            orders=[active(v, "rx-tiz", g.TIZ4, [tid(v, 4)])],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-prescribe-new-methyldopa-active-tizanidine",
            "medication-prescribe",
            v,
            [draft(v, "draft-mdopa", methyldopa_in, dosage(v, 250, freq=2))],
            orders=[active(v, "rx-tiz", g.TIZ4, [tid(v, 4)])],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-tizanidine-clonidine-record-stopped",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[g.med_order(v, "rx-clon", clonidine_in, status="stopped", authored=g.date_ago(60))],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-clonidine-on-baclofen-only",
            "order-sign",
            v,
            [draft(v, "draft-clon", clonidine_in, dosage(v, 0.1, freq=2))],
            orders=[active(v, "rx-bac", g.BAC10_SCD, [tid(v, 10)])],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-new-tizanidine-with-lisinopril",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[active(v, "rx-lis", lisinopril, [daily(v, 10)])],
        )

    def tizanidine_abrupt_withdrawal() -> None:
        f = "tizanidine-abrupt-withdrawal"
        v = R4
        case(
            f,
            "fires-r4-sign-stop-tizanidine-24-mg-per-day",
            "order-sign",
            v,
            [stop(v, "draft-stop-tiz", g.TIZ4)],
            orders=[active(v, "rx-tiz", g.TIZ4, [tid(v, 8)])],
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-cut-tizanidine-24-to-12-mg-exactly-half",
            "order-select",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 4))],
            orders=[active(v, "rx-tiz", g.TIZ4, [tid(v, 8)])],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-sign-stop-tizanidine-exactly-20-mg-per-day",
            "order-sign",
            v,
            [stop(v, "draft-stop-tiz", g.TIZ4)],
            orders=[active(v, "rx-tiz", g.TIZ4, [qid(v, 5)])],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-stop-tizanidine-16-mg-per-day",
            "order-sign",
            v,
            [stop(v, "draft-stop-tiz", g.TIZ4)],
            orders=[active(v, "rx-tiz", g.TIZ4, [qid(v, 4)])],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-cut-tizanidine-24-to-16-mg",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, qid(v, 4))],
            orders=[active(v, "rx-tiz", g.TIZ4, [tid(v, 8)])],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-renew-tizanidine-same-dose",
            "order-sign",
            v,
            [draft(v, "draft-tiz", g.TIZ4, tid(v, 8))],
            orders=[active(v, "rx-tiz", g.TIZ4, [tid(v, 8)])],
        )

    def als_respiratory_insufficiency() -> None:
        f = "als-respiratory-insufficiency"
        v = R4
        case(
            f,
            "fires-r4-sign-new-lorazepam-als-on-niv",
            "order-sign",
            v,
            [draft(v, "draft-loraz", g.LORAZ1, daily(v, 1))],
            conditions=[g.als(v), condition(v, "cond-niv", niv_text)],
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-midazolam-injection-als-chronic-respiratory-failure",
            "order-select",
            v,
            [draft(v, "draft-midaz", g.MIDAZ_INJ, daily(v, 2))],
            conditions=[g.als(v), condition(v, "cond-crf", crf_snomed)],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-sign-new-diazepam-als-fvc-45-percent",
            "order-sign",
            v,
            [draft(v, "draft-diaz", g.DIAZ5_SCD, tid(v, 5))],
            conditions=[g.als(v, code=g.ALS_ICD10)],
            lung=[fvc(v, 45, 20)],
        )
        v = R4
        case(
            f,
            "fires-r4-prescribe-new-clonazepam-for-anxiety-als-ventilator",
            "medication-prescribe",
            v,
            [draft(v, "draft-clonaz", g.CLONAZ05, daily(v, 0.5), reason={"text": "Anxiety"})],
            conditions=[g.als(v, code=g.ALS_ICD10), condition(v, "cond-vent", vent_icd)],
        )
        v = R4
        case(
            f,
            "fires-r4-sign-interplay-70-year-old-als-baclofen-oxycodone-niv-new-diazepam",
            "order-sign",
            v,
            [draft(v, "draft-diaz", g.DIAZ5_SCD, tid(v, 5))],
            who=patient("1956-04-10", "male"),
            conditions=[g.als(v), condition(v, "cond-niv", niv_text)],
            orders=[active(v, "rx-bac", g.BAC10_SCD, [tid(v, 10)]), active(v, "rx-oxy", oxy5, [qid(v, 5)])],
        )
        v = STU3
        case(
            f,
            "fires-stu3-sign-new-lorazepam-als-acute-on-chronic-failure",
            "order-sign",
            v,
            [draft(v, "draft-loraz", g.LORAZ1, daily(v, 1))],
            conditions=[g.als(v), condition(v, "cond-aocrf", acute_on_chronic)],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-lorazepam-als-acute-respiratory-failure-only",
            "order-sign",
            v,
            [draft(v, "draft-loraz", g.LORAZ1, daily(v, 1))],
            conditions=[g.als(v), condition(v, "cond-arf", acute_rf)],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-diazepam-als-fvc-exactly-50-percent",
            "order-sign",
            v,
            [draft(v, "draft-diaz", g.DIAZ5_SCD, tid(v, 5))],
            conditions=[g.als(v)],
            lung=[fvc(v, 50, 10)],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-new-diazepam-chronic-respiratory-failure-no-als",
            "order-sign",
            v,
            [draft(v, "draft-diaz", g.DIAZ5_SCD, tid(v, 5))],
            conditions=[condition(v, "cond-crf", crf_snomed)],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-diazepam-als-fvc-40-percent-120-days-old",
            "order-sign",
            v,
            [draft(v, "draft-diaz", g.DIAZ5_SCD, tid(v, 5))],
            conditions=[g.als(v)],
            lung=[fvc(v, 40, 120)],
        )

    def older_adult_benzodiazepine() -> None:
        f = "older-adult-benzodiazepine"
        v = R4
        case(
            f,
            "fires-r4-sign-new-lorazepam-patient-65-today",
            "order-sign",
            v,
            [draft(v, "draft-loraz", g.LORAZ1, daily(v, 1))],
            who=patient("1961-11-21"),
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-midazolam-injection-aged-80-no-reason",
            "order-select",
            v,
            [draft(v, "draft-midaz", g.MIDAZ_INJ, daily(v, 2))],
            who=patient("1946-02-14", "male"),
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-sign-new-alprazolam-for-anxiety-aged-70",
            "order-sign",
            v,
            [draft(v, "draft-alpraz", g.ALPRAZ025, tid(v, 0.25), reason={"text": "Anxiety"})],
            who=patient("1956-06-30"),
        )
        v = R4
        case(
            f,
            "fires-r4-prescribe-new-temazepam-for-insomnia-birth-year-only-1950",
            "medication-prescribe",
            v,
            [draft(v, "draft-temaz", g.TEMAZ15, daily(v, 15), reason={"text": "Insomnia"})],
            who=patient("1950"),
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-lorazepam-patient-64-turns-65-tomorrow",
            "order-sign",
            v,
            [draft(v, "draft-loraz", g.LORAZ1, daily(v, 1))],
            who=patient("1961-11-22"),
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-diazepam-for-seizure-cluster-aged-80",
            "order-sign",
            v,
            [draft(v, "draft-diaz", g.DIAZ5_SCD, daily(v, 10), reason={"text": "Seizure cluster"})],
            who=patient("1946-02-14"),
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-new-lorazepam-alcohol-withdrawal-aged-75",
            "order-sign",
            v,
            [
                draft(
                    v,
                    "draft-loraz",
                    g.LORAZ1,
                    qid(v, 1),
                    reason=cc(ICD10, "F10.231", "Alcohol dependence with withdrawal delirium"),
                )
            ],
            who=patient("1951-03-03"),
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-lorazepam-no-birth-date",
            "order-sign",
            v,
            [draft(v, "draft-loraz", g.LORAZ1, daily(v, 1))],
            who=patient(None),
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-midazolam-procedural-sedation-aged-70",
            "order-sign",
            v,
            [
                draft(
                    v,
                    "draft-midaz",
                    g.MIDAZ_INJ,
                    daily(v, 2),
                    reason={"text": "Procedural sedation for endoscopy"},
                )
            ],
            who=patient("1956-06-30"),
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-lorazepam-birth-year-only-1961",
            "order-sign",
            v,
            [draft(v, "draft-loraz", g.LORAZ1, daily(v, 1))],
            who=patient("1961"),
        )

    def baclofen_older_adult_renal() -> None:
        f = "baclofen-older-adult-renal"
        v = R4
        case(
            f,
            "fires-r4-sign-new-baclofen-aged-70-egfr-45",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1956-06-30"),
            renal=[g.egfr(v, 45, 10)],
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-baclofen-aged-65-today-egfr-59",
            "order-select",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1961-11-21"),
            renal=[g.egfr(v, 59, 10)],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-sign-new-baclofen-aged-72-egfr-exactly-30",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1954-01-15", "male"),
            renal=[g.egfr(v, 30, 10)],
        )
        v = R4
        case(
            f,
            "fires-r4-prescribe-new-baclofen-aged-80-ckd-3-no-egfr",
            "medication-prescribe",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1946-02-14"),
            conditions=[condition(v, "cond-ckd3", ckd3a)],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-baclofen-aged-70-egfr-29-severe-rule-speaks",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1956-06-30"),
            renal=[g.egfr(v, 29, 10)],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-baclofen-aged-70-egfr-60",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1956-06-30"),
            renal=[g.egfr(v, 60, 10)],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-new-baclofen-aged-64-egfr-45-dose-rule-speaks",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1961-11-22"),
            renal=[g.egfr(v, 45, 10)],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-baclofen-aged-70-ckd-3-but-recent-egfr-75",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1956-06-30"),
            conditions=[condition(v, "cond-ckd3", ckd3a)],
            renal=[g.egfr(v, 75, 10)],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-intrathecal-baclofen-aged-70-egfr-45",
            "order-sign",
            v,
            [draft(v, "draft-bac-it", g.GABLOFEN_TEXT, daily(v, 100, "mcg", route="intrathecal"))],
            who=patient("1956-06-30"),
            renal=[g.egfr(v, 45, 10)],
        )

    def baclofen_renal_dose_adjustment() -> None:
        f = "baclofen-renal-dose-adjustment"
        v = R4
        case(
            f,
            "fires-r4-sign-new-baclofen-aged-62-egfr-45",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            renal=[g.egfr(v, 45, 10)],
        )
        v = STU3
        case(
            f,
            "fires-stu3-select-new-baclofen-aged-64-egfr-59",
            "order-select",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1961-11-22"),
            renal=[g.egfr(v, 59, 10)],
        )
        v = DSTU2
        case(
            f,
            "fires-dstu2-sign-new-baclofen-unknown-age-egfr-30",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient(None),
            renal=[g.egfr(v, 30, 10)],
        )
        v = R4
        case(
            f,
            "fires-r4-prescribe-new-baclofen-aged-40-ckd-stage-3b-text",
            "medication-prescribe",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1986-08-01", "male"),
            conditions=[condition(v, "cond-ckd3", ckd3b_text)],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-baclofen-aged-65-today-egfr-45-older-rule-speaks",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            who=patient("1961-11-21"),
            renal=[g.egfr(v, 45, 10)],
        )
        v = STU3
        case(
            f,
            "silent-stu3-sign-new-baclofen-egfr-29-severe-rule-speaks",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            renal=[g.egfr(v, 29, 10)],
        )
        v = DSTU2
        case(
            f,
            "silent-dstu2-sign-new-baclofen-egfr-60",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            renal=[g.egfr(v, 60, 10)],
        )
        v = R4
        case(
            f,
            "silent-r4-sign-new-baclofen-egfr-45-out-of-window",
            "order-sign",
            v,
            [draft(v, "draft-bac", g.BAC10_SCD, tid(v, 5))],
            renal=[g.egfr(v, 45, 100)],
        )

    return [
        tizanidine_cyp1a2_inhibitor,
        opioid_benzodiazepine,
        antispastic_opioid_gabapentinoid,
        benzodiazepine_duplication,
        dantrolene_hepatotoxic_comedication,
        tizanidine_hepatic,
        tizanidine_alpha2_agonist,
        tizanidine_abrupt_withdrawal,
        als_respiratory_insufficiency,
        older_adult_benzodiazepine,
        baclofen_older_adult_renal,
        baclofen_renal_dose_adjustment,
    ]
