"""The package installs as `spasticity_cds` (the source folder is service/; hatch_build.py maps it).

A non-editable install works: the wheel carries cards/, schemas/ and openapi.yaml inside the
`spasticity_cds` package, and the installed package finds them there (not in the checkout); no
top-level `service` package is shipped. An editable install maps the name too."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO), cwd=tmp_path
    )
    if built.returncode != 0:
        # The isolated build fetches hatchling from the package index (or pip's cache).
        offline = (
            "Could not find a version that satisfies",
            "NewConnectionError",
            "Network is unreachable",
            "Temporary failure in name resolution",
            "No matching distribution found for hatchling",
        )
        if any(sign in built.stderr for sign in offline):
            pytest.skip(f"building the wheel needs hatchling from the network: {built.stderr.strip()[-300:]}")
        pytest.fail(f"pip wheel failed:\n{built.stderr[-3000:]}")
    wheel = next(dist.glob("spasticity_cds-*.whl"))

    names = set(zipfile.ZipFile(wheel).namelist())
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"spasticity_cds"}, top
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert {"spasticity_cds/__init__.py", "spasticity_cds/__main__.py", "spasticity_cds/wsgi.py"} <= names
    assert "spasticity_cds/openapi.yaml" in names
    assert (
        len([n for n in names if n.startswith("spasticity_cds/cards/rules/") and n.endswith(".yaml")]) == 21
    )  # 9 seeds + 12 (2026-12)
    assert any(n.startswith("spasticity_cds/cards/valuesets/") and n.endswith(".json") for n in names)
    assert "spasticity_cds/cards/services.yaml" in names
    # Start-up migrates the database: the Alembic environment and revisions ship in the wheel.
    assert {"spasticity_cds/migrations/env.py", "spasticity_cds/migrations/script.py.mako"} <= names
    assert "spasticity_cds/migrations/versions/0001_initial.py" in names
    schemas = {"cds-request.schema.json", "cds-response.schema.json", "contexts/order-sign.schema.json"}
    assert {f"spasticity_cds/schemas/{name}" for name in schemas} <= names
    # The admin pages' templates, stylesheet and the samples their card previews come from.
    admin = {"admin/templates/admin/base.html", "admin/templates/admin/rule.html", "admin/static/admin.css"}
    assert {f"spasticity_cds/{name}" for name in admin | {"check_samples/samples.json"}} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "spasticity-cds = spasticity_cds.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=tmp_path).returncode == 0
    python = venv / "bin" / "python"
    target = _run(
        str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
    )
    site = Path(target.stdout.strip())
    installed = _run(
        sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
        "--target", str(site), str(wheel), cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]

    # Third-party dependencies come from the main venv through PYTHONPATH. It holds no
    # `spasticity_cds` package (the project is installed there editable, by a .pth file that
    # PYTHONPATH entries do not process); the checks below prove it and its data come from the new venv.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    env["CDS_DATA_DIR"] = str(tmp_path / "data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import spasticity_cds, spasticity_cds.paths as p;"
        "from spasticity_cds.knowledge import load_knowledge;"
        "k = load_knowledge(); print(len(k.rules)); print(p.data_path('cards'));"
        "print(p.data_path('openapi.yaml'));"
        "print(spasticity_cds.__file__)"
    )
    result = _run(str(python), "-c", probe, cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    rules, cards, openapi, module = result.stdout.split()
    assert rules == "21"
    for path in (cards, openapi, module):
        assert Path(path).is_relative_to(site), f"{path} is not inside the new venv"
    assert not Path(module).is_relative_to(REPO)

    served = _run(
        str(python), "-c",
        "from spasticity_cds import create_app; c = create_app().test_client();"
        "r = c.get('/openapi.json'); print(r.status_code, r.get_json()['openapi'])",
        cwd=elsewhere, env=env,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr[-3000:]
    assert served.stdout.split()[-2:] == ["200", "3.1.0"]

    admin = _run(
        str(python), "-c",
        "from spasticity_cds import create_app; c = create_app({'admin': True}).test_client();"
        "r = c.get('/admin/rules/baclofen-renal-impairment'); s = c.get('/admin/static/admin.css');"
        "print(r.status_code, s.status_code, 'card card-warning' in r.get_data(as_text=True))",
        cwd=elsewhere, env=env,
    )  # fmt: skip
    assert admin.returncode == 0, admin.stderr[-3000:]
    assert admin.stdout.split()[-3:] == ["200", "200", "True"]
    version = _run(str(python), "-m", "spasticity_cds", "--version", cwd=elsewhere, env=env)
    assert version.returncode == 0, version.stderr[-3000:]
    assert version.stdout.startswith("spasticity-cds 0.2.0"), version.stdout
    no_service = _run(str(python), "-c", "import service", cwd=elsewhere, env=env)
    assert no_service.returncode != 0 and "No module named 'service'" in no_service.stderr


def test_editable_install_maps_spasticity_cds_to_the_source_folder(tmp_path: Path) -> None:
    """In the development venv (editable install) `spasticity_cds` is this checkout's service/,
    the console script and `python -m spasticity_cds` work, and no `service` module is importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_") and k != "PYTHONPATH"}
    probe = "import spasticity_cds; print(spasticity_cds.__file__)"
    where = _run(sys.executable, "-c", probe, cwd=tmp_path, env=env)
    assert where.returncode == 0, where.stderr[-3000:]
    assert Path(where.stdout.strip()) == REPO / "service" / "__init__.py"
    version = _run(sys.executable, "-m", "spasticity_cds", "--version", cwd=tmp_path, env=env)
    assert version.returncode == 0 and version.stdout.startswith("spasticity-cds "), version.stderr
    script = Path(sys.executable).parent / "spasticity-cds"
    assert _run(str(script), "--version", cwd=tmp_path, env=env).stdout == version.stdout
    assert _run(sys.executable, "-c", "import service", cwd=tmp_path, env=env).returncode != 0
