"""tools/terminology/ is a verbatim copy of the research folder ../shared/terminology/: where that
folder exists (the project's workspace), every copied file must be byte-identical to it, so the
in-repository inputs of tools/build_valuesets.py cannot drift from the research unnoticed. On a
fresh clone without ../shared the copy itself is checked against the hashes in its README."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COPY = REPO / "tools" / "terminology"
SHARED = REPO.parent / "shared" / "terminology"
DATA_FILES = sorted(p.name for p in COPY.iterdir() if p.name != "README.md")


def test_the_copy_holds_what_build_valuesets_reads() -> None:
    source = (REPO / "tools" / "build_valuesets.py").read_text(encoding="utf-8")
    assert 'DEFAULT_SOURCE = REPO_ROOT / "tools" / "terminology"' in source
    read = set(re.findall(r'self\._load\("([^"]+)"\)', source))
    assert read, "build_valuesets.py no longer reads its inputs through Inputs._load"
    assert read <= set(DATA_FILES)
    assert "PROVENANCE.md" in DATA_FILES


@pytest.mark.parametrize("name", DATA_FILES)
def test_copy_matches_the_hash_recorded_in_its_readme(name: str) -> None:
    readme = (COPY / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((COPY / name).read_bytes()).hexdigest()
    assert f"{digest}  {name}" in readme, f"tools/terminology/{name} changed: update README.md's hash"


def test_copy_is_identical_to_shared_terminology() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} does not exist outside the project workspace; the README hashes are checked")
    differ = [name for name in DATA_FILES if (COPY / name).read_bytes() != (SHARED / name).read_bytes()]
    assert not differ, f"tools/terminology/ differs from {SHARED} in {differ}: copy the new files and rebuild"
