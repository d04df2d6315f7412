"""The container image builds from docker/Dockerfile and passes `spasticity-cds check`.

Uses podman (Debian's package; `.ci/run` installs it). What this machine may lack, and what the
test then says (never silently):

- podman missing: a skip locally, a FAILURE under CI=true (require_server);
- podman present but unable to run any container (rootless, cgroup or overlay limits): a skip
  naming the engine's own error message;
- the Dockerfile's base image (python:3.11-slim-bookworm) cannot be pulled (no registry) and no
  local equivalent exists: a skip saying so; `.ci/base-image` builds the equivalent from Debian
  packages, and `.ci/run` does that before the tests where the registry is out of reach.

Once the image is built, every failure (build, start, a failed check) is a test failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.support.postgres import free_port
from tests.support.require import require_server

from .conftest import REPO

pytestmark = pytest.mark.slow

DEFAULT_BASE = "docker.io/library/python:3.11-slim-bookworm"
LOCAL_BASE = "localhost/spasticity-cds-base:bookworm-py311"
# Lower than any host's hard limits: some engines set rlimits above the host's and fail (EPERM).
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


def _podman(engine: list[str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        [*engine, *args], capture_output=True, text=True, timeout=timeout
    )


def _image_exists(engine: list[str], image: str) -> bool:
    return _podman(engine, "image", "exists", image).returncode == 0


def _base_image(engine: list[str]) -> tuple[str | None, str]:
    """(base image to build from, or None; what was tried)."""
    chosen = os.environ.get("SPASTICITY_CDS_BASE_IMAGE")
    if chosen:
        return chosen, f"SPASTICITY_CDS_BASE_IMAGE={chosen}"
    if _image_exists(engine, DEFAULT_BASE):
        return DEFAULT_BASE, "present locally"
    pulled = _podman(engine, "pull", "-q", DEFAULT_BASE, timeout=180)
    if pulled.returncode == 0:
        return DEFAULT_BASE, "pulled"
    if _image_exists(engine, LOCAL_BASE):
        return LOCAL_BASE, f"{DEFAULT_BASE} cannot be pulled; using {LOCAL_BASE} made by .ci/base-image"
    return None, (
        f"cannot pull {DEFAULT_BASE} ({pulled.stderr.strip()[-300:]}) and no {LOCAL_BASE} "
        "(build it from Debian packages with .ci/base-image)"
    )


def _engine(podman: Path, base: str) -> tuple[list[str] | None, str]:
    """A podman command line that can run a container of `base` here, or None and every error."""
    errors = []
    candidates = [[str(podman)]]
    if Path("/usr/bin/runc").exists() or Path("/usr/sbin/runc").exists():
        # crun refuses cgroup "hybrid" hosts (v1 controllers plus a cgroup2 mount); runc copes.
        candidates.append([str(podman), "--runtime", "runc"])
    for engine in candidates:
        argv = ("run", "--rm", "--network", "host", *ULIMITS, base, "python3", "-c", "print(1)")
        probe = _podman(engine, *argv, timeout=180)
        if probe.returncode == 0 and probe.stdout.strip() == "1":
            return engine, ""
        errors.append(f"{' '.join(engine)}: {probe.stderr.strip()[-300:]}")
    return None, "; ".join(errors)


def test_image_builds_and_passes_the_conformance_check() -> None:
    podman = require_server("podman")
    base, how = _base_image([str(podman)])
    if base is None:
        print(f"container image NOT built: {how}")
        pytest.skip(f"container image not built: {how}")
    engine, errors = _engine(podman, base)
    if engine is None:
        print(f"container image NOT built: podman cannot run a container here: {errors}")
        pytest.skip(f"podman cannot run a container here: {errors}")
    print(f"base image: {base} ({how}); engine: {' '.join(engine)}")

    tag = f"localhost/spasticity-cds:test-{uuid.uuid4().hex[:8]}"
    git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)  # noqa: S607
    commit = git.stdout.strip()
    started = time.monotonic()
    built = _podman(
        # --no-cache: with a cached builder stage, buildah cannot bind-mount its /wheels into the
        # runtime stage (`RUN --mount=type=bind,from=builder`: "couldn't find ... on host").
        engine, "build", "--no-cache", "--network", "host", *ULIMITS,
        "-f", str(REPO / "docker" / "Dockerfile"),
        "--build-arg", f"PYTHON_IMAGE={base}", "--build-arg", f"CDS_COMMIT={commit or 'unknown'}",
        "-t", tag, str(REPO), timeout=1200,
    )  # fmt: skip
    assert built.returncode == 0, f"podman build failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    print(f"built {tag} in {time.monotonic() - started:.0f} s")
    port = free_port()
    container = None
    try:
        run = _podman(
            engine, "run", "-d", "--rm", "--network", "host", *ULIMITS,
            "-e", "HOST=127.0.0.1", "-e", f"PORT={port}", "-e", "CDS_WORKERS=2", tag,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        container = run.stdout.strip()
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{base_url}/ready", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            logs = _podman(engine, "logs", container).stderr[-3000:]
            assert time.monotonic() < deadline, f"the container did not become ready:\n{logs}"
            time.sleep(0.5)

        check = subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "spasticity_cds.cli", "check", base_url],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        print(check.stdout)
        assert check.returncode == 0, f"spasticity-cds check failed:\n{check.stdout}\n{check.stderr}"
        assert " 0 failed" in check.stdout

        assert _podman(engine, "exec", container, "id", "-u").stdout.strip() == "10001"  # not root
        version = requests.get(f"{base_url}/version", timeout=5).json()
        assert commit and commit in str(version), version
    finally:
        if container:
            _podman(engine, "stop", "-t", "10", container)
        _podman(engine, "rmi", "-f", tag)
