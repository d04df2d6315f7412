"""Extract the regression set in tests/regression/data/ from Synthea bundles (stdlib only).

Source: the smart-on-fhir `generated-sample-data` repository (Synthea patients as FHIR R4, STU3
and DSTU2 transaction bundles, Apache-2.0). Read straight from a git directory (a mirror or a
clone) with `git cat-file --batch`, so no work tree is needed:

    python tools/extract_synthea.py --git-dir /path/to/generated-sample-data/.git

Why an extract and not the bundles: the bundles are ~1.2 GB; the service's prefetch templates can
only ever ask for Patient, Condition, MedicationRequest / MedicationOrder / MedicationStatement,
Medication and Observations of the lab codes, so only those are kept, unedited (no field of a
kept resource is changed). Observations are kept when their LOINC code is in a `lab` value set of
cards/valuesets, or their display names a test the specification counts (glomerular filtration,
creatinine clearance, ALT, AST: so a code the value sets miss is still in the data and the
regression test can show it), plus a few decoys (serum creatinine, bilirubin, alkaline
phosphatase) that no rule may count, to prove the filtering.

Output, one gzip file per FHIR version (`r4.ndjson.gz`, `stu3.ndjson.gz`, `dstu2.ndjson.gz`),
one JSON line per patient:
    {"source": <path in the repository>, "blob": <git blob id>, "asOf": <date of the patient's
     last encounter>, "entries": [{"fullUrl": ..., "resource": {...}}, ...]}
`asOf` is the moment the regression test orders the drafts at (the patient's latest visit), so
the 90-day lab window means what it would have meant when the record was current. Files are
written with a fixed gzip mtime, so re-running on the same commit gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "regression" / "data"
LOINC = "http://loinc.org"

# Resource types a prefetch template of this service can return (cards/services.yaml), plus
# Medication (referenced by medicationReference and `_include`d by the medication templates).
KEPT_TYPES = frozenset(
    {"Patient", "Condition", "MedicationRequest", "MedicationOrder", "MedicationStatement", "Medication"}
)
# Display words naming a test the specification counts ("Labs", "Reference range"): kept even
# when the shipped value sets miss the code, so the regression test sees what a real record holds.
LAB_WORDS = re.compile(
    r"glomerular filtration|creatinine (renal )?clearance|"
    r"alanine aminotransferase|aspartate aminotransferase",
    re.IGNORECASE,
)
# Decoys: results next to the counted ones on the same panels that no rule may count.
DECOY_CODES = frozenset({"38483-4", "2160-0", "1975-2", "6768-6"})

VERSIONS = {  # output name -> (folder in the source repository, default number of patients)
    "r4": ("R4/SYNTHEA", 0),  # 0: every patient
    "stu3": ("STU-3/SYNTHEA", 200),
    "dstu2": ("DSTU-2/SYNTHEA", 200),
}

# Records issue 10 names (and a few neighbours): selected first for the STU3/DSTU2 subsets.
INTERESTING_CONDITION = re.compile(
    r"brain damage|brain injury|concussion|spinal cord|paraly|kidney|renal|stroke|seizure|epilep|"
    r"alcohol|sclerosis|cerebral palsy|hepat|cirrho|liver",
    re.IGNORECASE,
)
INTERESTING_MEDICATION = re.compile(r"azepam|azolam|baclofen|tizanidine|dantrolene|clobazam", re.IGNORECASE)


def lab_codes(valuesets: Path) -> set[str]:
    """LOINC codes of every `lab` value set shipped in cards/valuesets."""
    codes: set[str] = set()
    for path in sorted(valuesets.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("kind") == "lab":
            codes.update(c["code"] for c in data.get("codes", []) if c.get("system", LOINC) == LOINC)
    return codes


def git_blobs(git_dir: Path, folder: str) -> list[tuple[str, str]]:
    """(path, blob id) of the .json files in one folder of the source commit."""
    out = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-z", "HEAD", folder + "/"],
        capture_output=True,
        check=True,
    ).stdout
    rows = []
    for line in out.split(b"\0"):
        if not line:
            continue
        meta, path = line.split(b"\t", 1)
        if path.endswith(b".json"):
            rows.append((path.decode("utf-8"), meta.split()[2].decode()))
    return rows


def read_blobs(git_dir: Path, blobs: list[tuple[str, str]]) -> Iterator[tuple[str, str, bytes | None]]:
    """Yield (path, blob id, content or None when the snapshot lacks the object)."""
    proc = subprocess.Popen(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for path, sha in blobs:
            proc.stdin.write(sha.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) < 3 or header[1] == b"missing":
                yield path, sha, None
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            yield path, sha, data
    finally:
        proc.stdin.close()
        proc.wait()


def _codes(resource: dict) -> list[dict]:
    return (resource.get("code") or {}).get("coding") or []


def keep_observation(resource: dict, wanted: set[str]) -> bool:
    for coding in _codes(resource):
        if coding.get("system", "").rstrip("/") != LOINC:
            continue
        code = coding.get("code")
        if code in wanted or code in DECOY_CODES or LAB_WORDS.search(coding.get("display") or ""):
            return True
    return False


def last_visit(resources: list[dict]) -> str | None:
    """Latest encounter date (end, else start): the moment the drafts are ordered at."""
    dates = []
    for r in resources:
        if r.get("resourceType") == "Encounter":
            period = r.get("period") or {}
            if d := period.get("end") or period.get("start"):
                dates.append(d)
    return max(dates) if dates else None


def extract(bundle: dict, wanted: set[str]) -> tuple[str | None, list[dict]] | None:
    """(asOf, kept entries) of one patient's bundle; None when it holds no Patient."""
    entries = bundle.get("entry") or []
    resources = [e.get("resource") or {} for e in entries]
    if not any(r.get("resourceType") == "Patient" for r in resources):
        return None
    kept = []
    for entry, r in zip(entries, resources, strict=True):
        kind = r.get("resourceType")
        if kind in KEPT_TYPES or (kind == "Observation" and keep_observation(r, wanted)):
            item = {"resource": r}
            if entry.get("fullUrl"):
                item = {"fullUrl": entry["fullUrl"], "resource": r}
            kept.append(item)
    return last_visit(resources), kept


def interest(entries: list[dict]) -> int:
    """How much a record exercises what issue 10 names (for choosing the STU3/DSTU2 subsets)."""
    score = 0
    for e in entries:
        r = e["resource"]
        kind = r.get("resourceType")
        text = " ".join(c.get("display") or "" for c in _codes(r))
        if kind == "Condition" and INTERESTING_CONDITION.search(text):
            score += 1
        if kind in ("Medication", "MedicationRequest", "MedicationOrder"):
            concept = r.get("medicationCodeableConcept") or r.get("code") or {}
            names = " ".join(c.get("display") or "" for c in concept.get("coding") or [])
            if INTERESTING_MEDICATION.search(names):
                score += 2
        if kind == "Observation" and LAB_WORDS.search(text):
            value = (r.get("valueQuantity") or {}).get("value")
            if "filtration" in text.lower() and isinstance(value, int | float) and value < 30:
                score += 2
    return score


def write_ndjson_gz(path: Path, rows: list[dict]) -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        for row in rows:
            gz.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")
    path.write_bytes(buffer.getvalue())


def stable_key(path: str) -> str:
    """Order of the filler patients: by file name only, so STU3 and DSTU2 (the same synthetic
    people written in two FHIR versions, same file names) keep the same people."""
    return hashlib.sha1(Path(path).name.encode("utf-8")).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--git-dir", required=True, type=Path, help="git directory of generated-sample-data")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--valuesets", type=Path, default=REPO / "cards" / "valuesets")
    parser.add_argument("--subset", type=int, default=None, help="patients kept for STU3 and DSTU2")
    args = parser.parse_args(argv)
    wanted = lab_codes(args.valuesets)
    commit = subprocess.run(
        ["git", "--git-dir", str(args.git_dir), "rev-parse", "HEAD"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "source": "https://github.com/smart-on-fhir/generated-sample-data",
        "commit": commit,
    }
    for name, (folder, default_n) in VERSIONS.items():
        limit = args.subset if (args.subset is not None and default_n) else default_n
        rows: list[dict[str, Any]] = []
        missing = not_patients = 0
        for path, sha, data in read_blobs(args.git_dir, git_blobs(args.git_dir, folder)):
            if data is None:
                missing += 1
                continue
            got = extract(json.loads(data), wanted)
            if got is None:
                not_patients += 1
                continue
            as_of, entries = got
            rows.append({"source": path, "blob": sha, "asOf": as_of, "entries": entries})
        available = len(rows)
        if limit:
            rows.sort(key=lambda r: (-min(interest(r["entries"]), 1), stable_key(r["source"])))
            rows = rows[:limit]
        rows.sort(key=lambda r: r["source"])
        target = args.out / f"{name}.ndjson.gz"
        write_ndjson_gz(target, rows)
        types = Counter(e["resource"]["resourceType"] for r in rows for e in r["entries"])
        summary[name] = {
            "folder": folder,
            "patients": len(rows),
            "patients_available": available,
            "files_missing_from_snapshot": missing,
            "files_without_patient": not_patients,
            "resources": dict(sorted(types.items())),
            "bytes": target.stat().st_size,
        }
        print(
            f"{name}: {len(rows)} of {available} patients, {target.stat().st_size / 1e6:.2f} MB",
            file=sys.stderr,
        )
    (args.out / "extract.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
