"""The golden manifest: what the published contract looked like at the current version.

`tests/contracts/golden-manifest.json` holds the package version and sha256 digests of every golden
response (`tests/golden/**/*.response.json`) and of each rule's trigger and indicator
(`triggers` + `indicator` in `cards/rules/<id>.yaml`). tests/test_contract_versioning.py recomputes
them: a change without a version bump fails (see docs/CONTRACT.md, "Versioning").

    python -m tests.contracts.manifest            # show what changed against the manifest; exit 1 if any
    python -m tests.contracts.manifest --update   # after bumping the version and writing the CHANGELOG
    python -m tests.contracts.manifest --update --force   # re-baseline without a bump (unreleased work only)

`--update` refuses when something changed but the version did not, when a rule's trigger or
indicator changed with less than a minor bump, or when the CHANGELOG section of the new version
does not name every rule whose golden responses, trigger or indicator changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "tests" / "contracts" / "golden-manifest.json"
GOLDEN = REPO / "tests" / "golden"
RULES = REPO / "cards" / "rules"
CHANGELOG = REPO / "CHANGELOG.md"
UPDATE_COMMAND = "python -m tests.contracts.manifest --update"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def project_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])


def compute() -> dict[str, Any]:
    golden = {
        str(path.relative_to(REPO)): _sha256(path.read_bytes())
        for path in sorted(GOLDEN.glob("*/*.response.json"))
    }
    rules = {}
    for path in sorted(RULES.glob("*.yaml")):
        rule = yaml.safe_load(path.read_text(encoding="utf-8"))
        promise = {"triggers": rule.get("triggers"), "indicator": rule.get("indicator")}
        rules[rule["id"]] = _sha256(json.dumps(promise, sort_keys=True, ensure_ascii=False).encode())
    return {"version": project_version(), "golden": golden, "rules": rules}


def load_manifest() -> dict[str, Any] | None:
    return json.loads(MANIFEST.read_text(encoding="utf-8")) if MANIFEST.exists() else None


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> dict[str, list[str]]:
    """{"golden": changed/added/removed response files, "rules": rules whose trigger or indicator changed}."""
    out: dict[str, list[str]] = {}
    for part in ("golden", "rules"):
        old, new = recorded.get(part, {}), current[part]
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if changed:
            out[part] = changed
    return out


def rules_touched(diff: dict[str, list[str]]) -> list[str]:
    """Rule ids affected: trigger/indicator changes, and rules whose golden folder changed."""
    touched = set(diff.get("rules", []))
    for path in diff.get("golden", []):
        folder = Path(path).parent.name
        if folder != "baseline":
            touched.add(folder)
    return sorted(touched)


def changelog_section(version: str) -> str | None:
    """The text of `## [version]` in CHANGELOG.md, or None when there is no such section."""
    if not CHANGELOG.exists():
        return None
    text = CHANGELOG.read_text(encoding="utf-8")
    match = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n(.*?)(?=^## \[|\Z)", text, re.M | re.S)
    return match.group(1) if match else None


def _parse(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def is_minor_bump(old: str, new: str) -> bool:
    a, b = _parse(old), _parse(new)
    return b[:2] > a[:2]


def update(force: bool = False) -> int:
    current = compute()
    recorded = load_manifest()
    if recorded is not None and not force:
        diff = differences(recorded, current)
        if diff and current["version"] == recorded["version"]:
            print(f"refusing: the contract changed but the version is still {current['version']}; bump it")
            print("in pyproject.toml and service/version.py and add a CHANGELOG section first.")
            return 1
        if diff.get("rules") and not is_minor_bump(recorded["version"], current["version"]):
            print(
                f"refusing: rule trigger/indicator changed ({', '.join(diff['rules'])}): this needs at least"
            )
            print(f"a minor version over {recorded['version']}, not {current['version']}.")
            return 1
        if diff:
            section = changelog_section(current["version"]) or ""
            missing = [rule for rule in rules_touched(diff) if rule not in section]
            if missing:
                print(f"refusing: CHANGELOG [{current['version']}] does not name: {', '.join(missing)}")
                return 1
    MANIFEST.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {MANIFEST.relative_to(REPO)} for version {current['version']}")
    return 0


def main(argv: list[str]) -> int:
    if "--update" in argv:
        return update(force="--force" in argv)
    recorded = load_manifest()
    if recorded is None:
        print(f"no manifest; create it with {UPDATE_COMMAND}")
        return 1
    diff = differences(recorded, compute())
    for part, names in diff.items():
        print(f"{part} changed: " + ", ".join(names))
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
