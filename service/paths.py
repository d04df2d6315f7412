"""Where the data files live: inside the installed package, or at the top of a source checkout.

A wheel carries `cards/`, `schemas/` and `openapi.yaml` inside the `service` package (see
pyproject.toml); an editable install or a plain checkout reads them from the repository root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """Path of a top-level data file or folder (`cards`, `schemas`, `openapi.yaml`)."""
    installed = _PACKAGE / name
    if installed.exists():
        return installed
    return _PACKAGE.parent / name
