"""The published contract changes only with the version: docs/CONTRACT.md, "Versioning".

A golden response, or a rule's trigger or indicator, that differs from
tests/contracts/golden-manifest.json while pyproject's version is still the manifest's fails here,
with what to do: bump the version, add a CHANGELOG entry naming the rules, refresh the manifest.
"""

from __future__ import annotations

from tests.contracts import manifest


def test_changelog_has_a_section_for_the_current_version() -> None:
    version = manifest.project_version()
    assert manifest.changelog_section(version) is not None, (
        f"CHANGELOG.md has no '## [{version}]' section: add one (Keep a Changelog style) naming what changed"
    )


def test_service_version_matches_pyproject() -> None:
    from spasticity_cds import __version__

    assert __version__ == manifest.project_version(), "service/version.py and pyproject.toml disagree"


def test_golden_responses_and_rules_change_only_with_the_version() -> None:
    recorded = manifest.load_manifest()
    assert recorded is not None, f"tests/contracts/golden-manifest.json is missing: {manifest.UPDATE_COMMAND}"
    current = manifest.compute()
    diff = manifest.differences(recorded, current)
    if not diff:
        assert recorded["version"] == current["version"], (
            f"version is {current['version']} but the manifest records {recorded['version']}: "
            f"run {manifest.UPDATE_COMMAND}"
        )
        return
    what = "; ".join(
        f"{part}: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}" for part, names in diff.items()
    )
    rules = ", ".join(manifest.rules_touched(diff)) or "(baseline only)"
    if current["version"] == recorded["version"]:
        raise AssertionError(
            f"The contract changed but the version is still {current['version']}.\n"
            f"Changed: {what}\n"
            f"1. bump the version in pyproject.toml and service/version.py (a rule's trigger or indicator "
            f"change is at least a minor version);\n"
            f"2. add a CHANGELOG.md section for the new version naming the rules: {rules};\n"
            f"3. refresh the manifest: {manifest.UPDATE_COMMAND}"
        )
    raise AssertionError(
        f"The version is now {current['version']} (manifest: {recorded['version']}) and the contract changed "
        f"({what}): refresh the manifest with {manifest.UPDATE_COMMAND}"
    )


def test_a_rule_change_needs_a_minor_version() -> None:
    assert manifest.is_minor_bump("0.1.0", "0.2.0")
    assert manifest.is_minor_bump("0.9.3", "1.0.0")
    assert not manifest.is_minor_bump("0.1.0", "0.1.1")


def test_differences_name_changed_rules_and_golden_files() -> None:
    recorded = {
        "version": "0.1.0",
        "golden": {
            "tests/golden/dantrolene-hepatic-disease/fires-x.response.json": "a",
            "tests/golden/baseline/b": "b",
        },
        "rules": {"dantrolene-hepatic-disease": "1", "baclofen-renal-impairment": "2"},
    }
    current = {
        "version": "0.1.0",
        "golden": {
            "tests/golden/dantrolene-hepatic-disease/fires-x.response.json": "c",
            "tests/golden/baseline/b": "b",
        },
        "rules": {"dantrolene-hepatic-disease": "1", "baclofen-renal-impairment": "3"},
    }
    diff = manifest.differences(recorded, current)
    assert diff == {
        "golden": ["tests/golden/dantrolene-hepatic-disease/fires-x.response.json"],
        "rules": ["baclofen-renal-impairment"],
    }
    assert manifest.rules_touched(diff) == ["baclofen-renal-impairment", "dantrolene-hepatic-disease"]
