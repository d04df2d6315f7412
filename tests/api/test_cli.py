"""The `spasticity-cds` command as installed in the venv: evaluate, rules, --version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from spasticity_cds.validation import validator
from tests.api.helpers import BACLOFEN, DIAZEPAM, SANDBOX, als_condition, bundle, hook_request, order

SCRIPT = Path(sys.executable).with_name("spasticity-cds")


def run(*args: str, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "spasticity_cds.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env["CDS_DATA_DIR"] = str(cwd / "data")
    return subprocess.run(  # noqa: S603 - fixed argv
        [*command, *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


def test_evaluate_a_file_prints_the_response(tmp_path: Path) -> None:
    prefetch = {
        "conditions": bundle(als_condition(), searchset=True),
        "medicationRequests": bundle(order("R4", BACLOFEN, status="active", ident="rx-b"), searchset=True),
        "medicationStatements": None,
        "patient": {"resourceType": "Patient"},  # no birth date: no age rule
        "lungFunctionLabs": None,  # second set of rules: FVC % predicted
    }
    request = tmp_path / "request.json"
    request.write_text(json.dumps(hook_request("order-sign", [order("R4", DIAZEPAM)], prefetch=prefetch)))
    result = run("evaluate", str(request), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    response: dict[str, Any] = json.loads(result.stdout)
    assert not list(validator("cds-response.schema.json").iter_errors(response))
    assert {"benzodiazepine-spasticity", "cns-depressant-combination"} <= {
        card["source"]["topic"]["code"] for card in response["cards"]
    }


def test_evaluate_stdin(tmp_path: Path) -> None:
    result = run(
        "evaluate", "-", stdin=(SANDBOX / "order-select-first-call-no-drug.json").read_text(), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"cards": []}


def test_invalid_input_exits_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    cases = {
        "not json": ("{oops", "JSON"),
        "no hookInstance": (json.dumps({"hook": "order-sign", "context": {}}), "hookInstance"),
    }
    for name, (text, named) in cases.items():
        result = run("evaluate", "-", stdin=text, cwd=tmp_path)
        assert result.returncode != 0, name
        assert result.stdout == "", name
        assert result.stderr.strip().startswith("error") and named in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr, name
    missing = run("evaluate", str(tmp_path / "absent.json"), cwd=tmp_path)
    assert missing.returncode != 0 and "absent.json" in missing.stderr and "Traceback" not in missing.stderr


def test_rules_lists_nine_rules(tmp_path: Path) -> None:
    result = run("rules", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ids = [line.split()[0] for line in result.stdout.splitlines() if line and not line[0].isspace()]
    assert len(ids) == 21 and len(set(ids)) == 21, ids  # nine seeds + twelve of the second set
    assert {
        "baclofen-dantrolene-combination",
        "benzodiazepine-spasticity",
        "cns-depressant-combination",
    } <= set(ids)


def test_version(tmp_path: Path) -> None:
    from spasticity_cds import __version__

    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("spasticity-cds ") and __version__ in result.stdout
