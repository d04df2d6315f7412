"""The terminology value sets in cards/valuesets/: valid, consistent, traceable, reproducible.

These files are the only place the service learns which codes mean baclofen, ALS or an eGFR, so
they are tested like code: against their schema, against the sandbox codes real EHR traffic sends,
for strengths and routes the dose rules rely on, and for byte-identical regeneration from the
research files (so nobody hand-edits a generated file).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parents[2]
VALUESETS = REPO / "cards" / "valuesets"
SCHEMA = REPO / "schemas" / "knowledge" / "valueset.schema.json"
BUILD_SCRIPT = REPO / "tools" / "build_valuesets.py"
SHARED_TERMINOLOGY = REPO / "tools" / "terminology"  # in-repo copy of ../shared/terminology

EXPECTED_IDS = {
    "baclofen",
    "tizanidine",
    "dantrolene",
    "benzodiazepines",
    "als",
    "spasticity",
    "multiple-sclerosis",
    "spinal-cord-injury",
    "cerebral-palsy",
    "stroke-hemiplegia",
    "traumatic-brain-injury",
    "hereditary-spastic-paraplegia",
    "hepatic-disease",
    "ckd-severe",
    "spasticity-reasons",
    "benzodiazepine-other-indications",
    "alt",
    "ast",
    "egfr",
    "hepatic-function-panel",
    "routes",
    "units",
}
EXPECTED_IDS |= {  # the second set of rules (2026-12), tools/valuesets_second_set.py
    "opioids",
    "gabapentinoids",
    "cyp1a2-inhibitors-strong",
    "cyp1a2-inhibitors-other",
    "estrogens",
    "alpha2-agonists",
    "riluzole",
    "respiratory-insufficiency",
    "ckd-stage-3",
    "fvc-percent-predicted",
    "benzodiazepine-older-adult-exempt",
}

needs_shared = pytest.mark.skipif(
    not SHARED_TERMINOLOGY.is_dir(), reason=f"research files not present at {SHARED_TERMINOLOGY}"
)


@cache
def load(vs_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VALUESETS / f"{vs_id}.json").read_text(encoding="utf-8"))
    return data


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def all_ids() -> list[str]:
    return sorted(p.stem for p in VALUESETS.glob("*.json"))


def medication_ids() -> list[str]:
    return [i for i in all_ids() if load(i)["kind"] == "medication"]


def code_entries(vs_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for entry in load(vs_id)["ingredients"]:
        for code in entry["codes"]:
            yield entry["ingredient"], code


def find_code(code: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (value set, ingredient, code entry) holding an RxNorm code."""
    return [
        (vs_id, ing, c) for vs_id in medication_ids() for ing, c in code_entries(vs_id) if c["code"] == code
    ]


def only(code: str) -> tuple[str, str, dict[str, Any]]:
    hits = find_code(code)
    assert len(hits) == 1, f"{code}: expected one ingredient entry, found {[(v, i) for v, i, _ in hits]}"
    return hits[0]


def build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_valuesets", BUILD_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_valuesets", module)
    spec.loader.exec_module(module)
    return module


# --- shape --------------------------------------------------------------------------------------
def test_the_expected_value_sets_exist() -> None:
    assert set(all_ids()) == EXPECTED_IDS


@pytest.mark.parametrize("vs_id", sorted(EXPECTED_IDS))
def test_file_validates_against_the_schema_and_id_is_the_file_name(vs_id: str) -> None:
    doc = load(vs_id)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(doc)]
    assert errors == []
    assert doc["id"] == vs_id


@pytest.mark.parametrize(
    ("vs_id", "mutate", "field"),
    [
        ("baclofen", lambda d: d["ingredients"][0]["codes"][1].update(route="mouth"), "route"),
        (
            "baclofen",
            lambda d: d["ingredients"][0]["codes"][1].update(strength_mg=10, strength_mg_per_ml=5),
            "codes",
        ),
        ("als", lambda d: d.update(provenance=[]), "provenance"),
        ("als", lambda d: d.update(id="ALS"), "id"),
        ("units", lambda d: d.update(codes=[]), "codes"),
        ("routes", lambda d: d["groups"].update(enteral={"codes": [], "words": ["tube"]}), "groups"),
        ("egfr", lambda d: d["codes"][0].update(system="http://snomed.info/sct"), "system"),
    ],
)
def test_the_schema_rejects_bad_files(vs_id: str, mutate: Any, field: str) -> None:
    doc = json.loads(json.dumps(load(vs_id)))
    mutate(doc)
    errors = list(validator().iter_errors(doc))
    assert errors, "a broken file must not validate"
    assert any(field in "/".join(map(str, e.absolute_path)) or field in e.message for e in errors)


@pytest.mark.parametrize("vs_id", sorted(EXPECTED_IDS))
def test_no_duplicate_codes(vs_id: str) -> None:
    doc = load(vs_id)
    if doc["kind"] == "medication":
        for entry in doc["ingredients"]:
            dupes = [c for c, n in Counter(c["code"] for c in entry["codes"]).items() if n > 1]
            assert dupes == [], f"{entry['ingredient']}: {dupes}"
    elif "codes" in doc:
        keys = Counter((c["system"], c["code"]) for c in doc["codes"])
        assert [k for k, n in keys.items() if n > 1] == []
    if doc["kind"] == "route":
        keys = Counter((c["system"], c["code"]) for g in doc["groups"].values() for c in g["codes"])
        assert [k for k, n in keys.items() if n > 1] == []


def test_a_code_maps_to_one_ingredient_unless_it_is_a_combination_product() -> None:
    owners: dict[str, set[str]] = {}
    flags: dict[str, bool] = {}
    for vs_id in medication_ids():
        for ing, code in code_entries(vs_id):
            owners.setdefault(code["code"], set()).add(ing)
            flags[code["code"]] = flags.get(code["code"], False) or bool(code.get("combination"))
    shared = {c: sorted(i) for c, i in owners.items() if len(i) > 1 and not flags[c]}
    assert shared == {}


def test_combination_flag_follows_the_rxnorm_name() -> None:
    for vs_id in medication_ids():
        for _ing, code in code_entries(vs_id):
            if " / " in code.get("display", ""):
                assert code.get("combination") is True, code["code"]
            if re.search(r"\d\s*MG/ML", code.get("display", "")) and " / " not in code.get("display", ""):
                assert "combination" not in code, (
                    f"{code['code']}: MG/ML is a concentration, not a combination"
                )


def test_route_and_form_groups_are_declared_route_groups() -> None:
    routes = load("routes")
    groups = set(routes["groups"])
    assert {f["route"] for f in routes["forms"]} <= groups
    used = {c["route"] for vs_id in medication_ids() for _, c in code_entries(vs_id) if "route" in c}
    used |= {
        b["route"]
        for vs_id in medication_ids()
        for e in load(vs_id)["ingredients"]
        for b in e["brands"]
        if "route" in b
    }
    assert used <= groups


# --- the codes real traffic sends ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "ingredient", "route", "strength"),
    [
        ("202109", "baclofen", "oral", {"strength_mg": 10}),
        ("197391", "baclofen", "oral", {"strength_mg": 10}),
        ("197392", "baclofen", "oral", {"strength_mg": 20}),
        ("199280", "baclofen", "oral", {"strength_mg": 25}),
        ("317302", "baclofen", None, {"strength_mg": 10}),
        ("1155671", "baclofen", "oral", {}),
        ("2593376", "baclofen", "oral", {"strength_mg_per_ml": 5}),
        ("2667941", "baclofen", "oral", {"strength_mg_per_ml": 2}),
        ("1047437", "baclofen", "intrathecal", {"strength_mg_per_ml": 0.05}),
        ("308516", "baclofen", "intrathecal", {}),
        ("856652", "dantrolene", "oral", {"strength_mg": 100}),
        ("856656", "dantrolene", "oral", {"strength_mg": 25}),
        ("856660", "dantrolene", "oral", {"strength_mg": 50}),
        ("856696", "dantrolene", "intravenous", {"strength_mg": 20}),
        ("856698", "dantrolene", "intravenous", {}),
        ("313412", "tizanidine", "oral", {"strength_mg": 2}),
        ("485484", "tizanidine", "oral", {"strength_mg": 6}),
        ("197591", "diazepam", "oral", {"strength_mg": 5}),
        ("801958", "diazepam", "rectal", {"strength_mg_per_ml": 5}),
        ("2272619", "diazepam", "nasal", {"strength_mg_per_ml": 100}),
        ("2272622", "diazepam", "nasal", {}),
        ("1551395", "midazolam", "injection", {"strength_mg_per_ml": 5}),
        ("104683", "flunitrazepam", "oral", {"strength_mg": 1}),
    ],
)
def test_code_ingredient_route_and_strength(
    code: str, ingredient: str, route: str | None, strength: dict[str, float]
) -> None:
    _vs, ing, entry = only(code)
    assert ing == ingredient
    assert entry.get("route") == route
    assert {k: entry[k] for k in ("strength_mg", "strength_mg_per_ml") if k in entry} == strength


def test_sandbox_names_are_kept_verbatim() -> None:
    assert only("202109")[2]["display"] == "Baclofen 10 MG Oral Tablet [Lioresal]"
    assert only("856652")[2]["display"] == "Dantrolene Sodium 100 MG Oral Capsule"
    assert only("317302")[2]["display"] == "Baclofen 10 MG"
    assert only("1155671")[2]["display"] == "Baclofen Pill"


def test_combination_products_carry_the_benzodiazepine_strength() -> None:
    _vs, ing, entry = only("856792")  # Amitriptyline 25 MG / Chlordiazepoxide 10 MG Oral Tablet
    assert (ing, entry["strength_mg"], entry["combination"]) == ("chlordiazepoxide", 10, True)
    _vs, ing, entry = only("1186174")  # Librax Pill
    assert (ing, entry.get("combination"), "strength_mg" in entry) == ("chlordiazepoxide", True, False)


def test_brands() -> None:
    def brands(vs_id: str) -> dict[str, dict[str, Any]]:
        return {b["name"]: b for e in load(vs_id)["ingredients"] for b in e["brands"]}

    baclofen = brands("baclofen")
    assert baclofen["Gablofen"].get("route") == "intrathecal"
    assert "route" not in baclofen["Lioresal"]  # oral tablets and intrathecal ampoules both exist
    assert "Ozobax" in baclofen and "Kemstro" in baclofen
    assert not any("(" in name for name in baclofen)
    dantrolene = brands("dantrolene")
    assert dantrolene["Ryanodex"]["route"] == dantrolene["Revonto"]["route"] == "intravenous"
    assert "route" not in dantrolene["Dantrium"]
    benzos = brands("benzodiazepines")
    assert "route" not in benzos["Valium"] and benzos["Diastat"]["route"] == "rectal"
    assert {"Librium", "Dalmane", "Xanax", "Klonopin"} <= set(benzos)
    assert benzos["Limbitrol"].get("combination") is True


def test_baclofen_mcg_means_intrathecal() -> None:
    entry = load("baclofen")["ingredients"][0]
    assert entry["unit_routes"]["mcg"] == entry["unit_routes"]["ug"] == "intrathecal"
    assert entry["names"] == ["baclofen"]


@needs_shared
def test_every_sandbox_code_is_present_with_its_ingredient() -> None:
    sandbox = json.loads((SHARED_TERMINOLOGY / "rxnorm-names-sandbox.json").read_text(encoding="utf-8"))
    words: dict[str, str] = {}
    for vs_id in medication_ids():
        for entry in load(vs_id)["ingredients"]:
            for name in entry["names"] + [b["name"].lower() for b in entry["brands"]]:
                words[name] = entry["ingredient"]
    missing = []
    for code, name in sandbox["names"].items():
        expected = {
            ing for w, ing in words.items() if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", name, re.I)
        }
        got = {ing for _vs, ing, entry in find_code(code) if entry.get("display") == name}
        if not expected or got != expected:
            missing.append((code, name, sorted(expected), sorted(got)))
    assert missing == []


@needs_shared
def test_no_unconfirmed_candidate_was_loaded() -> None:
    """unconfirmed.json holds codes typed from memory (ATC candidates): none may reach a value set.

    (LOINC 33914-3 left that file once it was confirmed; see test_egfr_counts_every_confirmed_code.)"""
    unconfirmed = json.loads((SHARED_TERMINOLOGY / "unconfirmed.json").read_text(encoding="utf-8"))
    candidates = set(unconfirmed["atc"]["candidates"].values()) | {i["code"] for i in unconfirmed["loinc"]}
    assert "33914-3" not in candidates and len(candidates) > 10
    text = "\n".join((VALUESETS / f"{vs_id}.json").read_text(encoding="utf-8") for vs_id in all_ids())
    assert sorted(c for c in candidates if f'"{c}"' in text) == []


# --- conditions and reasons ------------------------------------------------------------------------
def test_condition_contexts_hold_their_sandbox_codes_and_spasm_codes_stay_out_of_spasticity() -> None:
    def codes(vs_id: str) -> set[str]:
        return {c["code"] for c in load(vs_id)["codes"]}

    assert "86044005" in codes("als")  # the sandbox's ALS condition
    assert "221360009" in codes("spasticity")  # the sandbox's spasticity condition
    assert {"M62.838", "R25.2", "728.85"} & codes("spasticity") == set()
    assert {"M62.838", "R25.2", "728.85", "221360009"} <= codes("spasticity-reasons")
    als_prefixes = {(p["system"].rsplit("/", 1)[-1], p["prefix"]) for p in load("als")["prefixes"]}
    assert {("icd-10-cm", "G12.2"), ("icd-9-cm", "335.2")} <= als_prefixes


def test_a_reason_naming_spasticity_never_counts_as_another_indication() -> None:
    other = load("benzodiazepine-other-indications")
    spasm = load("spasticity-reasons")
    assert {"spasticity", "spastic", "spasm", "muscle spasm"} <= set(other["exclude_words"])
    assert set(other["words"]) & set(spasm["words"]) == set()
    assert {"dyspnoea", "dyspnea", "anaesthesia", "anesthesia", "seizure", "alcohol withdrawal"} <= set(
        other["words"]
    )
    prefixes = {p["prefix"] for p in other["prefixes"]}
    assert {"G40", "R56", "F10.23", "Z51.5"} <= prefixes


def test_every_condition_has_words_and_the_general_exclusions() -> None:
    for vs_id in all_ids():
        doc = load(vs_id)
        if doc["kind"] == "condition":
            assert doc["words"], vs_id
            assert {"history of", "family history", "ruled out"} <= set(doc["exclude_words"]), vs_id


# --- labs, routes, units -----------------------------------------------------------------------------
def test_labs() -> None:
    assert [c["code"] for c in load("alt")["codes"] if c["primary"]] == ["1742-6"]
    assert [c["code"] for c in load("ast")["codes"] if c["primary"]] == ["1920-8"]
    panel = load("hepatic-function-panel")["codes"]
    assert [(c["code"], c["primary"]) for c in panel] == [("24325-3", True), ("24324-6", False)]
    assert "62238-1" in {c["code"] for c in load("egfr")["codes"]}


def test_route_codes_and_forms() -> None:
    routes = load("routes")
    coded = {
        (c["system"].rsplit("/", 1)[-1], c["code"]): g
        for g, spec in routes["groups"].items()
        for c in spec["codes"]
    }
    assert coded[("sct", "26643006")] == "oral"
    assert coded[("sct", "72607000")] == "intrathecal"
    assert coded[("v3-RouteOfAdministration", "IT")] == "intrathecal"
    assert coded[("v2-0162", "IV")] == "intravenous"
    forms = {w: f["route"] for f in routes["forms"] for w in f["words"]}
    assert forms["disintegrating oral tablet"] == forms["oral tablet"] == "oral"
    assert (forms["injectable solution"], forms["rectal gel"], forms["nasal spray"]) == (
        "injection",
        "rectal",
        "nasal",
    )
    assert "enteral" not in {w for g in routes["groups"].values() for w in g["words"]}
    assert "it" not in routes["groups"]["intrathecal"]["words"]


def test_units() -> None:
    units = load("units")
    assert units["mass_to_mg"]["mcg"] == units["mass_to_mg"]["ug"] == 0.001
    assert units["mass_to_mg"]["g"] == 1000 and units["volume_to_ml"]["L"] == 1000
    assert {"{tbl}", "{pill}", "TAB", "CAP", "tablet"} <= set(units["count"])
    assert units["per_day"]["h"] == 24 and abs(units["per_day"]["wk"] * 7 - 1) < 1e-5


# --- the build script --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "ingredient", "expected"),
    [
        ("Baclofen 10 MG Oral Tablet", "baclofen", {"strength_mg": 10}),
        ("0.5 ML Diazepam 5 MG/ML Rectal Gel [Diastat]", "diazepam", {"strength_mg_per_ml": 5}),
        ("baclofen 10 mg/5 mL (2 mg/mL) oral liquid", "baclofen", {"strength_mg_per_ml": 2}),
        ("baclofen 50 mcg/mL, 1 mL prefilled glass syringe", "baclofen", {"strength_mg_per_ml": 0.05}),
        ("24 HR Alprazolam 0.5 MG Extended Release Oral Tablet", "alprazolam", {"strength_mg": 0.5}),
        (
            "Amitriptyline Hydrochloride 25 MG / Chlordiazepoxide 10 MG Oral Tablet",
            "chlordiazepoxide",
            {"strength_mg": 10},
        ),
        (
            "{2 (0.1 ML) (Diazepam 75 MG/ML Nasal Spray [Valtoco]) } Pack [Valtoco 15 MG Dose Kit]",
            "diazepam",
            {},
        ),
        ("Baclofen Pill", "baclofen", {}),
    ],
)
def test_strength_parsing(name: str, ingredient: str, expected: dict[str, float]) -> None:
    assert build_module().strength_of(name, ingredient) == expected


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("Clonazepam 0.5 MG Disintegrating Oral Tablet", "oral"),
        ("2 ML Diazepam 5 MG/ML Prefilled Syringe", "injection"),
        ("Diazepam 10 MG Rectal Suppository", "rectal"),
        ("Midazolam 50 MG/ML Nasal Spray [Nayzilam]", "nasal"),
        ("Lioresal Intrathecal", "intrathecal"),
        ("Baclofen 10 MG", None),
        ("Lioresal", None),
    ],
)
def test_route_from_dose_form(name: str, route: str | None) -> None:
    assert build_module().form_route(name) == route


@needs_shared
def test_rebuilding_reproduces_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--source", str(SHARED_TERMINOLOGY), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_bytes() for p in VALUESETS.glob("*.json")}
    assert sorted(built) == sorted(committed)
    stale = [name for name in built if built[name] != committed[name]]
    assert stale == [], "re-run tools/build_valuesets.py and commit the result"
    check = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--source", str(SHARED_TERMINOLOGY), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


# --- issue 10: eGFR, creatinine clearance, default limits, timing codes, condition extras ---------
def test_egfr_counts_every_confirmed_code_and_creatinine_clearance() -> None:
    egfr = {c["code"]: c for c in load("egfr")["codes"]}
    for code in ("33914-3", "77147-7", "62238-1", "98979-8", "50210-4", "88293-6", "88294-4"):
        assert code in egfr, code
    # 33914-3 is not in the eCQM expansion: its source must say where it was confirmed instead
    assert [s["source"] for s in egfr["33914-3"]["sources"]] == ["dicom-cid-10046-athena"]
    # creatinine clearance (measured 24 h, Cockcroft-Gault) stands in for eGFR
    assert "24 hour" in egfr["2164-2"]["display"] and "Cockcroft-Gault" in egfr["35591-7"]["display"]
    assert egfr["2164-2"]["sources"] == [{"source": "loinc-table-extract"}]
    assert "33558-8" not in egfr  # suggested, never confirmed


def test_alt_and_ast_carry_a_sourced_default_upper_limit() -> None:
    for vs_id in ("alt", "ast"):
        limit = load(vs_id)["default_upper_limit"]
        assert limit["value"] == 40 and "U/L" in limit["units"]
        assert all(s.get("url", "").startswith("https://") for s in limit["sources"])


def test_timing_codes_are_hl7_gts_abbreviations() -> None:
    timing = load("units")["timing_codes"]
    assert timing["system"] == "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
    codes = timing["codes"]
    assert codes["BID"] == {"frequency": 2, "period": 1, "period_unit": "d"}
    assert codes["Q6H"] == {"frequency": 1, "period": 6, "period_unit": "h"}
    assert codes["QOD"] == {"frequency": 1, "period": 2, "period_unit": "d"}
    # not GTSAbbreviation codes: listed from HL7 v2 table 0335 (Q<integer>H) and v2 0528 / v3 TimingEvent (HS)
    assert codes["Q12H"] == {"frequency": 1, "period": 12, "period_unit": "h"}
    assert codes["HS"] == {"frequency": 1, "period": 1, "period_unit": "d"}
    sources = {p.get("source") for p in load("units")["provenance"]}
    assert {"hl7-v2-0335-repeat-pattern", "hl7-v2-0528-v3-timingevent"} <= sources
    assert "AC" not in codes  # a meal event says when, not how often
    assert {"packet", "sachet", "granules"} <= set(load("units")["count"])


def test_concussion_is_not_a_traumatic_brain_injury_and_synthea_disorders_count() -> None:
    tbi = load("traumatic-brain-injury")
    codes = {c["code"] for c in tbi["codes"]}
    assert "275272006" in codes  # Brain damage - traumatic (Synthea)
    assert not codes & {"110030002", "62106007", "62564004", "447396006", "40425004"}
    assert not [c for c in codes if c.startswith(("S06.0", "850"))]
    prefixes = [p["prefix"] for p in tbi["prefixes"]]
    assert not [p for p in prefixes if p in {"S06", "850"} or p.startswith("S06.0")]
    assert "S06.5" in {p["prefix"] for p in tbi["prefixes"]}
    assert "concussion" in tbi["exclude_words"] and "concussion" not in tbi["words"]
    assert "698754002" in {c["code"] for c in load("spinal-cord-injury")["codes"]}


def test_renal_prefetch_query_asks_for_every_counted_code() -> None:
    from spasticity_cds.knowledge import load_knowledge

    query = load_knowledge().templates["renalLabs"]
    for c in load("egfr")["codes"]:
        assert f"http://loinc.org|{c['code']}" in query, c["code"]


# --- issue 10: condition value sets from disorders and their subtypes (PRIMIS clusters) ----------
SUBTYPES = {
    "cerebral-palsy": {"230773005", "904531000000100", "58193001", "43486001", "813921000000104"},
    "multiple-sclerosis": {"230373008", "438511000", "192928003"},
    "spinal-cord-injury": {"372310001", "698742002", "60389000", "91327001"},
    "als": {"717964007", "88923002", "81211007"},
    "hereditary-spastic-paraplegia": {"39912006", "230260007", "737227004"},
    "spasticity": {"192965001", "298282001", "79633009"},
    "traumatic-brain-injury": {"737231005", "722615007"},
    "stroke-hemiplegia": {"50582007", "20022000", "16891111000119104"},
    "hepatic-disease": {"103931000119102", "427044009"},
    "ckd-severe": {"431857002", "714152005", "443143006"},
}
PRIMIS = {"primis-cns-cov", "primis-cld", "primis-ckd35", "primis-ckd-cov"}


def test_condition_subtypes_from_public_clusters_are_in_their_context() -> None:
    for vs_id, wanted in SUBTYPES.items():
        vs = load(vs_id)
        codes = {c["code"]: c for c in vs["codes"]}
        assert wanted <= set(codes), (vs_id, wanted - set(codes))
        for code in wanted:
            assert {s["source"] for s in codes[code]["sources"]} & (PRIMIS | {"ecqm-2024", "ohdsi-phenotype"})
        # every PRIMIS source cited by a code is in the provenance with repository, commit and path
        cited = {s["source"] for c in vs["codes"] for s in c.get("sources", [])} & PRIMIS
        for entry in vs["provenance"]:
            if entry["source"] in cited:
                assert entry["url"].startswith("https://github.com/opensafely/")
                assert len(entry["version"]) == 40 and entry["path"].startswith("codelists/")
                cited.discard(entry["source"])
        assert not cited, (vs_id, cited)


def test_no_concussion_or_history_code_counts_as_a_spasticity_disorder() -> None:
    for vs_id in SUBTYPES:
        vs = load(vs_id)
        for c in vs["codes"]:
            display = c["display"].lower()
            assert "history" not in display, (vs_id, c["code"])
            if "concussion" in display:  # only structural injuries that also name a concussion
                assert vs_id in {"traumatic-brain-injury", "stroke-hemiplegia"}, (vs_id, c["code"])
                structural = ("contusion", "laceration", "hemorrhage", "intracranial injury")
                assert any(w in display for w in structural), c["code"]
    tbi = load("traumatic-brain-injury")
    assert "Z87.820" not in {c["code"] for c in tbi["codes"]}
    assert "Z87.820" not in {p["prefix"] for p in tbi["prefixes"]}
    assert "40425004" not in {c["code"] for c in tbi["codes"]}  # postconcussion syndrome
