"""What is running: package version, source commit and knowledge version.

An incident review in a hospital starts with "which build gave this advice, with which rules?",
so `GET /version` and `spasticity-cds --version` answer it from one place. Nothing here may fail
or block a request: every lookup falls back to a placeholder, and the only slow one (`git`) runs
at most once per process, with a short timeout.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

DISTRIBUTION = "spasticity-cds"
UNKNOWN = "unknown"
# The source tree's version, kept equal to pyproject.toml's (tests/test_contract_versioning.py).
# It lives here, below the package root that re-exports it, so nothing imports upwards for it.
__version__ = "0.2.0"

_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
# The checkout root when running from source: service/version.py -> service/ -> repository root.
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def package_version() -> str:
    """The installed distribution's version; the source tree's `__version__` when not installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return __version__


def commit() -> str:
    """The source commit: `CDS_COMMIT` (set by the image build), else `git rev-parse` in a checkout.

    The environment is read on every call (cheap, and lets a deployment correct it); the git
    fallback is cached because it starts a process.
    """
    from_env = os.environ.get("CDS_COMMIT", "").strip()
    if from_env:
        return from_env
    return git_commit(_SOURCE_ROOT) or UNKNOWN


@functools.cache
def git_commit(root: Path) -> str | None:
    """HEAD of the git checkout at `root`, or None when it is not one (installed wheel, no git,
    no commits yet, unsafe ownership ...). Never raises."""
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and _COMMIT.match(sha) else None


def knowledge_version(knowledge: Any) -> str | None:
    """The version of the loaded knowledge base (`cards/`), None when none is loaded or it has none."""
    value = getattr(knowledge, "version", None)
    return str(value) if value not in (None, "") else None


def version_info(knowledge: Any = None) -> dict[str, str | None]:
    """The body of `GET /version`."""
    return {
        "version": package_version(),
        "commit": commit(),
        "knowledge_version": knowledge_version(knowledge),
    }


def version_string(knowledge: Any = None) -> str:
    """One line for `spasticity-cds --version`."""
    info = version_info(knowledge)
    text = f"{DISTRIBUTION} {info['version']} (commit {info['commit']}"
    if info["knowledge_version"]:
        text += f", knowledge {info['knowledge_version']}"
    return text + ")"
