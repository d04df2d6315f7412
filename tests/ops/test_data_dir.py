"""The embedded SQLite database lives in a per-user data folder by default, not in the folder the
service happens to start from; CDS_DATA_DIR and CDS_DATABASE_URL still choose another place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spasticity_cds.config import Config


def test_default_is_the_xdg_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    config = Config.from_env({})
    assert Path(config.data_dir) == tmp_path / "xdg" / "spasticity-cds"
    folder = tmp_path / "xdg" / "spasticity-cds"
    assert config.effective_database_url == f"sqlite:///{folder}/spasticity-cds.sqlite3"


def test_without_xdg_it_is_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Path(Config().data_dir) == tmp_path / ".local" / "share" / "spasticity-cds"


def test_current_folder_stays_an_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = Config.from_env({"CDS_DATA_DIR": "data"})
    assert config.effective_database_url == f"sqlite:///{tmp_path / 'data'}/spasticity-cds.sqlite3"
    url = "sqlite:////somewhere/else.sqlite3"
    assert Config.from_env({"CDS_DATABASE_URL": url}).effective_database_url == url


def test_a_fresh_start_writes_nothing_in_the_current_folder(tmp_path: Path) -> None:
    """The app factory with no settings creates its database in XDG_DATA_HOME, not in the cwd."""
    cwd, xdg = tmp_path / "cwd", tmp_path / "xdg"
    cwd.mkdir()
    probe = (
        "from spasticity_cds import create_app; c = create_app().test_client();"
        "print(c.get('/ready').status_code)"
    )
    env = {"XDG_DATA_HOME": str(xdg), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "200"
    assert list(cwd.iterdir()) == []
    assert (xdg / "spasticity-cds" / "spasticity-cds.sqlite3").is_file()
