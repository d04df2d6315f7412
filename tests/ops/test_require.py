"""require_server: a missing server is a skip on a laptop and a failure under CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import require
from tests.support.require import require_server


@pytest.fixture
def missing(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(require.SERVERS, "nothing-here", (lambda: None, "the package 'nothing-here'"))
    return "nothing-here"


def test_missing_server_skips_locally(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nothing-here is not installed: install the package"):
        require_server(missing)


@pytest.mark.parametrize("value", ["true", "1", "TRUE", "yes"])
def test_missing_server_fails_under_ci(missing: str, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=true and nothing-here is not installed"):
        require_server(missing)


def test_present_server_is_returned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setitem(require.SERVERS, "here", (lambda: tmp_path, "anything"))
    assert require_server("here") == tmp_path


def test_every_known_server_has_a_finder() -> None:
    assert {"nginx", "postgresql", "wrk", "git", "podman"} <= set(require.SERVERS)
