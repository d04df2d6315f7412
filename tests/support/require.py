"""`require_server(name)`: a test that needs a server or tool installed on the machine (nginx,
PostgreSQL, wrk, git, podman) calls this first.

Locally a missing one is a skip with a message saying what to install. Under CI (`CI=true`, as
`.ci/run` sets it) it is a FAILURE: CI installs them all, so a missing one means the tests that
need it would silently stop running, which is exactly what a green run must rule out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def _which(name: str) -> Callable[[], Path | None]:
    def find() -> Path | None:
        found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").is_file() else None)
        return Path(found) if found else None

    return find


def _nginx() -> Path | None:
    from .nginx import find_nginx

    return find_nginx()


def _postgresql() -> Path | None:
    from .postgres import find_bindir

    return find_bindir()


# name -> (finder returning the binary or its folder, or None; what to install)
SERVERS: dict[str, tuple[Callable[[], Path | None], str]] = {
    "nginx": (_nginx, "the Debian package 'nginx'"),
    "postgresql": (_postgresql, "the Debian package 'postgresql' (initdb, pg_ctl)"),
    "wrk": (_which("wrk"), "the Debian package 'wrk'"),
    "git": (_which("git"), "the Debian package 'git'"),
    "podman": (_which("podman"), "the Debian package 'podman'"),
}


def in_ci() -> bool:
    """Whether this run is CI: the CI variable most CI systems (and .ci/run) set."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def require_server(name: str) -> Path:
    """The installed server `name`, or a skip (locally) / a failure (CI=true) saying what is missing."""
    find, package = SERVERS[name]
    found = find()
    if found is not None:
        return found
    message = f"{name} is not installed: install {package} (.ci/run does) to run this test"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)
