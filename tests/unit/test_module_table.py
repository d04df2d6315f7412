"""docs/ARCHITECTURE.md lists every module under service/ with the purpose its docstring states."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import module_table  # noqa: E402 - tools/ is not a package


def test_the_module_table_matches_the_code() -> None:
    page = module_table.PAGE.read_text(encoding="utf-8")
    assert module_table.page_with_table(page) == page, "run: python tools/module_table.py --write"


def test_every_module_is_listed_once() -> None:
    page = module_table.PAGE.read_text(encoding="utf-8")
    for path in module_table.modules():
        assert page.count(f"| `{path.relative_to(REPO).as_posix()}` |") == 1


def test_the_clinical_core_does_not_import_flask() -> None:
    core = ["records.py", "engine.py", "facts.py", "terminology.py", "cards.py", "fhir/", "store/"]
    for path in module_table.modules():
        relative = path.relative_to(REPO / "service").as_posix()
        if any(relative.startswith(c) if c.endswith("/") else relative == c for c in core):
            assert module_table.summary(path)[1] is False, relative


def test_a_module_without_a_docstring_is_refused(tmp_path: Path) -> None:
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "bare.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match="no module docstring"):
        module_table.table(tmp_path)
