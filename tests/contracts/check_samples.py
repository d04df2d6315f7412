"""Build `service/check_samples/samples.json`: the sample requests `spasticity-cds check` sends.

For each rule, one golden case that must fire and one that must stay silent, chosen so the
outcome does not depend on today's date (no lab results whose age matters), made self-contained:
`fhirServer` and `fhirAuthorization` are removed and every prefetch key announced at discovery is
present (missing ones as empty searchsets), so a deployment answers them without any FHIR server.

    python -m tests.contracts.check_samples --update   # rewrite the file from tests/golden/
    python -m tests.contracts.check_samples            # exit 1 if the file is out of date

tests/contracts/test_check.py runs the samples against the real service, with today's clock and
with a clock a year ahead, so a date-dependent sample would be caught.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
TARGET = REPO / "service" / "check_samples" / "samples.json"

CHOSEN: dict[str, tuple[str, str]] = {
    "antispastic-max-daily-dose": (
        "fires-r4-sign-baclofen-30-mg-tid-90",
        "silent-r4-sign-baclofen-exactly-80",
    ),
    "baclofen-abrupt-withdrawal": (
        "fires-r4-sign-status-stopped-oral-baclofen",
        "silent-r4-sign-stop-draft-without-active-baclofen",
    ),
    "baclofen-dantrolene-combination": (
        "fires-r4-sign-contained-medication-baclofen-with-active-dantrolene",
        "silent-r4-sign-new-baclofen-with-active-iv-ryanodex",
    ),
    "baclofen-renal-impairment": ("fires-stu3-prescribe-esrd-snomed", "silent-dstu2-prescribe-ckd-stage-3"),
    "benzodiazepine-spasticity": (
        "fires-r4-sign-valium-sbd-als-warning-offers-baclofen-and-tizanidine",
        "silent-r4-reason-seizure-icd10-g40",
    ),
    "cns-depressant-combination": (
        "fires-r4-select-lorazepam-with-active-tizanidine-als",
        "silent-r4-select-diazepam-selected-benzo-only-no-antispastic",
    ),
    "dantrolene-hepatic-disease": (
        "fires-r4-sign-dantrolene-cirrhosis-icd10-critical",
        "silent-r4-sign-dantrolene-hepatitis-resolved",
    ),
    "dantrolene-liver-monitoring": (
        "fires-r4-sign-no-labs-servicerequest-suggestion",
        "silent-r4-sign-hepatic-disease-takes-precedence",
    ),
    "intrathecal-baclofen-consideration": (
        "fires-stu3-sign-oral-baclofen-90-mg-alone-ms",
        "silent-r4-sign-oral-baclofen-60-mg-alone",
    ),
    # the second set of rules (2026-12): no result whose age matters, no age near a threshold
    "tizanidine-cyp1a2-inhibitor": (
        "fires-r4-sign-new-tizanidine-active-ciprofloxacin-critical",
        "silent-r4-sign-new-ciprofloxacin-no-tizanidine-on-baclofen",
    ),
    "opioid-benzodiazepine": (
        "fires-r4-sign-new-diazepam-active-oxycodone",
        "silent-r4-sign-new-diazepam-no-opioid",
    ),
    "antispastic-opioid-gabapentinoid": (
        "fires-r4-sign-new-baclofen-active-oxycodone",
        "silent-r4-sign-new-iv-dantrolene-active-morphine",
    ),
    "benzodiazepine-duplication": (
        "fires-r4-sign-new-lorazepam-active-clonazepam",
        "silent-r4-sign-new-diazepam-with-rectal-rescue-diastat",
    ),
    "dantrolene-hepatotoxic-comedication": (
        "fires-r4-sign-new-dantrolene-active-riluzole-als",
        "silent-r4-sign-woman-without-birth-date-new-dantrolene-estradiol",
    ),
    "tizanidine-hepatic": (
        "fires-r4-sign-new-tizanidine-hepatitis-c-warning",
        "silent-r4-sign-tizanidine-stop-draft-with-hepatitis",
    ),
    "tizanidine-alpha2-agonist": (
        "fires-r4-sign-new-tizanidine-active-clonidine",
        "silent-stu3-sign-new-clonidine-on-baclofen-only",
    ),
    "tizanidine-abrupt-withdrawal": (
        "fires-r4-sign-stop-tizanidine-24-mg-per-day",
        "silent-r4-sign-stop-tizanidine-16-mg-per-day",
    ),
    "als-respiratory-insufficiency": (
        "fires-r4-sign-new-lorazepam-als-on-niv",
        "silent-r4-sign-new-lorazepam-als-acute-respiratory-failure-only",
    ),
    "older-adult-benzodiazepine": (
        "fires-stu3-select-new-midazolam-injection-aged-80-no-reason",
        "silent-r4-sign-new-lorazepam-no-birth-date",
    ),
    "baclofen-older-adult-renal": (
        "fires-r4-prescribe-new-baclofen-aged-80-ckd-3-no-egfr",
        "silent-r4-sign-new-intrathecal-baclofen-aged-70-egfr-45",
    ),
    "baclofen-renal-dose-adjustment": (
        "fires-r4-prescribe-new-baclofen-aged-40-ckd-stage-3b-text",
        "silent-dstu2-sign-new-baclofen-egfr-60",
    ),
}

EMPTY = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}


def _services() -> dict[str, str]:
    from spasticity_cds.knowledge import load_knowledge

    return {s["hook"]: sid for sid, s in load_knowledge().services.items()}


def _prefetch_keys() -> list[str]:
    from spasticity_cds.knowledge import load_knowledge

    discovery = load_knowledge().discovery()
    return sorted({key for s in discovery["services"] for key in s.get("prefetch", {})})


def _self_contained(request: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    request = dict(request)
    request.pop("fhirServer", None)
    request.pop("fhirAuthorization", None)
    prefetch = dict(request.get("prefetch") or {})
    for key in keys:
        if key not in prefetch or prefetch[key] is None:
            prefetch[key] = None if key == "patient" else dict(EMPTY)
    request["prefetch"] = prefetch
    return request


def build() -> dict[str, Any]:
    services = _services()
    keys = _prefetch_keys()
    samples = []
    for rule, names in CHOSEN.items():
        for name in names:
            request = json.loads((GOLDEN / rule / f"{name}.request.json").read_text(encoding="utf-8"))
            samples.append(
                {
                    "rule": rule,
                    "expect": "fires" if name.startswith("fires-") else "silent",
                    "service": services[request["hook"]],
                    "golden": f"tests/golden/{rule}/{name}",
                    "request": _self_contained(request, keys),
                }
            )
    return {
        "description": "Sample requests of `spasticity-cds check`: per rule one that must fire and one that "
        "must stay silent; self-contained (full prefetch, no fhirServer). Generated by "
        "`python -m tests.contracts.check_samples --update`; do not edit by hand.",
        "samples": samples,
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--update" in argv:
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        TARGET.write_text(text, encoding="utf-8")
        print(f"wrote {TARGET.relative_to(REPO)}")
        return 0
    if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
        print(f"{TARGET.relative_to(REPO)} is out of date: python -m tests.contracts.check_samples --update")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
