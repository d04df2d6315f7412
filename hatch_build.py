"""Build hook: ship the source folder `service/` as the package `spasticity_cds`.

hatchling can rename a folder in a wheel (`sources`) but then refuses editable installs
(pfmoore/editables#20). So the mapping is done here, for both kinds of wheel:

- standard wheel: `service/` -> `spasticity_cds/`, with `cards/`, `schemas/` and `openapi.yaml`
  inside it (service/paths.py finds them there);
- editable wheel: a `.pth` file that installs a tiny import hook loading `spasticity_cds` (and so
  all its submodules) from this checkout's `service/` folder; data files are then read from the
  checkout (service/paths.py falls back to the repository root).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE = "spasticity_cds"
SOURCE = "service"
DATA = ("cards", "schemas", "openapi.yaml")

_FINDER = '''"""Editable install of spasticity-cds: `import {package}` loads {source}."""
import importlib.abc
import importlib.util
import sys

_SOURCE = {source!r}


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != {package!r}:
            return None
        return importlib.util.spec_from_file_location(
            fullname, _SOURCE + "/__init__.py", submodule_search_locations=[_SOURCE]
        )


if not any(type(f).__name__ == "_Finder" and getattr(f, "package", None) == {package!r} for f in sys.meta_path):
    _finder = _Finder()
    _finder.package = {package!r}
    sys.meta_path.append(_finder)
'''


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if version == "editable":
            scratch = Path(tempfile.mkdtemp(prefix="spasticity-cds-editable-"))
            finder = scratch / f"_{PACKAGE}_editable.py"
            finder.write_text(_FINDER.format(package=PACKAGE, source=str(root / SOURCE)), encoding="utf-8")
            pth = scratch / f"_{PACKAGE}_editable.pth"
            pth.write_text(f"import _{PACKAGE}_editable\n", encoding="utf-8")
            build_data["force_include_editable"][str(finder)] = finder.name
            build_data["force_include_editable"][str(pth)] = pth.name
            return
        for name, target in [(SOURCE, PACKAGE), *((name, f"{PACKAGE}/{name}") for name in DATA)]:
            path = root / name
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                if "__pycache__" in file.parts or file.suffix == ".pyc":
                    continue
                relative = file.relative_to(path).as_posix() if file != path else ""
                build_data["force_include"][str(file)] = f"{target}/{relative}" if relative else target
