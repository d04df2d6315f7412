"""Version, commit and knowledge version: every lookup has a fallback and none may raise."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from spasticity_cds import __version__
from spasticity_cds import version as v
from tests.support.require import require_server


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


needs_git = pytest.mark.usefixtures("_git_installed")


@pytest.fixture
def _git_installed() -> None:
    require_server("git")


@pytest.fixture(autouse=True)
def _fresh_git_cache() -> None:
    v.git_commit.cache_clear()


def test_package_version_matches_the_source() -> None:
    assert v.package_version() == __version__


def test_commit_from_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_COMMIT", "  abc1234  ")
    assert v.commit() == "abc1234"


@needs_git
def test_commit_from_a_git_checkout(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "f").write_text("x")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "commit", "-q", "-m", "x")
    assert v.git_commit(tmp_path) == _git(tmp_path, "rev-parse", "HEAD")


@needs_git
def test_no_commit_in_a_repository_without_commits(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    assert v.git_commit(tmp_path) is None


def test_no_commit_outside_a_checkout(tmp_path: Path) -> None:
    assert v.git_commit(tmp_path) is None


def test_no_commit_when_git_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert v.git_commit(tmp_path) is None


def test_commit_falls_back_to_unknown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CDS_COMMIT", raising=False)
    monkeypatch.setattr(v, "_SOURCE_ROOT", tmp_path)
    assert v.commit() == "unknown"


def test_knowledge_version() -> None:
    class K:
        version = "2026.11.0"

    assert v.knowledge_version(K()) == "2026.11.0"
    assert v.knowledge_version(None) is None
    assert v.knowledge_version(object()) is None


def test_version_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_COMMIT", "abc1234")

    class K:
        version = "2026.11.0"

    assert v.version_string(K()) == f"spasticity-cds {__version__} (commit abc1234, knowledge 2026.11.0)"
    assert v.version_string() == f"spasticity-cds {__version__} (commit abc1234)"
