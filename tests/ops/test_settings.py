"""One declaration of every setting (service/config.py): bad values refused at start-up with the
variable named, gunicorn reading the same declaration, and the README table generated from it."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from spasticity_cds import create_app, gunicorn_conf
from spasticity_cds.config import (
    OTHER_VARIABLES,
    Config,
    ServerConfig,
    SettingError,
    env_name,
    readme_with_settings,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["ture", "enabled", "2", "oui"])
def test_a_misspelt_boolean_is_refused_not_read_as_off(value: str) -> None:
    with pytest.raises(SettingError, match=rf"CDS_TRUST_SANDBOX must be on or off.*{value!r}"):
        Config.from_env({"CDS_TRUST_SANDBOX": value})


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("TRUE", True), ("on", True), ("no", False), ("0", False)]
)
def test_boolean_words(value: str, expected: bool) -> None:
    assert Config.from_env({"CDS_TRUST_SANDBOX": value}).trust_sandbox is expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CDS_FHIR_TIMEOUT", "-5", "more than 0"),
        ("CDS_FHIR_TIMEOUT", "0", "more than 0"),
        ("CDS_FHIR_TIMEOUT", "nan", "finite"),
        ("CDS_FHIR_TIMEOUT", "soon", "a number"),
        ("CDS_MAX_JSON_DEPTH", "0", "at least 1"),
        ("CDS_MAX_BODY_BYTES", "-1", "at least 1"),
        ("CDS_JWT_LEEWAY", "-1", "at least 0"),
        ("CDS_MAX_DRAFT_ORDERS", "1.5", "whole number"),
        ("CDS_REPEAT_TIMEOUT", "0", "more than 0"),
        ("CDS_AUTH", "jwtt", "one of off, jwt"),
        ("CDS_REPEAT_SUPPRESSION", "maybe", "one of on, off"),
        ("CDS_LOG_LEVEL", "LOUD", "one of DEBUG"),
        ("CDS_TRUSTED_ISSUERS", "[1]", "JSON object"),
        ("CDS_TRUSTED_ISSUERS", "{", "JSON object"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingError, match=rf"^{name} .*{message}"):
        Config.from_env({name: value})


def test_zero_is_accepted_where_it_means_something() -> None:
    assert Config.from_env({"CDS_JWT_LEEWAY": "0"}).jwt_leeway == 0


def test_choices_ignore_case_and_empty_means_default() -> None:
    config = Config.from_env({"CDS_AUTH": "JWT", "CDS_LOG_LEVEL": "debug", "CDS_FHIR_TIMEOUT": " "})
    assert (config.auth, config.log_level, config.fhir_timeout) == ("jwt", "DEBUG", 3.0)


def test_values_given_in_code_are_checked_too() -> None:
    with pytest.raises(SettingError, match="CDS_MAX_JSON_DEPTH"):
        Config(max_json_depth=0)
    with pytest.raises(SettingError, match="CDS_FHIR_TIMEOUT"):
        Config().with_overrides(fhir_timeout=-5)


def test_the_app_refuses_to_start_with_a_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_MAX_JSON_DEPTH", "0")
    with pytest.raises(SettingError, match="CDS_MAX_JSON_DEPTH"):
        create_app()


def test_the_command_line_names_the_variable(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text("{}")
    result = subprocess.run(
        [sys.executable, "-m", "spasticity_cds.cli", "evaluate", str(request)],
        env={"CDS_FHIR_TIMEOUT": "-5", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert "error: CDS_FHIR_TIMEOUT must be more than 0, not -5" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("CDS_THREADS", "0"), ("CDS_KEEPALIVE", "-1"), ("PORT", "http"), ("CDS_LOG_LEVEL", "chatty")],
)
def test_gunicorn_reads_the_same_declaration(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    try:
        with pytest.raises(SettingError, match=rf"^{name} "):
            importlib.reload(gunicorn_conf)
    finally:
        monkeypatch.undo()
        importlib.reload(gunicorn_conf)


def test_gunicorn_values_come_from_server_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_CLIENT_TIMEOUT", "7")
    monkeypatch.setenv("CDS_ACCESS_LOG", "OFF")
    try:
        conf = importlib.reload(gunicorn_conf)
        assert conf.client_timeout == ServerConfig.from_env().client_timeout == 7
        assert conf.accesslog is None
    finally:
        monkeypatch.undo()
        importlib.reload(gunicorn_conf)


def test_every_setting_has_a_meaning() -> None:
    for cls in (Config, ServerConfig):
        for f in fields(cls):
            assert f.metadata.get("doc"), f"{env_name(f)} has no doc line"


def test_readme_table_is_generated_from_the_declaration() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme_with_settings(readme) == readme, "run: python -m spasticity_cds.config --write-readme"


def test_every_variable_the_code_reads_is_declared() -> None:
    declared = {env_name(f) for cls in (Config, ServerConfig) for f in fields(cls)}
    declared |= {name for name, _, _ in OTHER_VARIABLES}
    internal = {"CDS_SERVE_METRICS_DIR", "CDS_X_Y"}  # set by `serve` for gunicorn; a docstring example
    read: set[str] = set()
    for path in (REPO / "service").rglob("*.py"):
        read |= set(re.findall(r"\bCDS_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    assert read - declared - internal == set()
