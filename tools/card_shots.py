"""Screenshots of cards as a clinician sees them: `make card-shots` (docs/cards/*.png).

For each case below, the request of a golden case is answered by the service (the same code path as
`spasticity-cds evaluate`), rendered by `service.render` to docs/cards/<name>.html, and shot with
headless Chromium (Debian's `chromium`; `apt-get install -y chromium`) at the width of a typical
CDS card panel and the height of one screen, so a card that does not fit shows it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
OUT = REPO / "docs" / "cards"
WIDTH, HEIGHT = 500, 900  # px: a CDS card panel beside the order form, one laptop screen high

CASES = {
    "als-diazepam": (
        "benzodiazepine-spasticity/fires-r4-sign-diazepam-als-on-baclofen-30-add-tizanidine",
        "ALS patient on baclofen 30 mg/day, diazepam ordered (order-sign)",
    ),
    "ms-diazepam": (
        "benzodiazepine-spasticity/fires-r4-sign-valium-sbd-ms-info-never-says-als",
        "MS patient, diazepam ordered (order-sign)",
    ),
    "dantrolene-liver": (
        "dantrolene-liver-monitoring/fires-r4-sign-alt-above-reference-high",
        "Dantrolene ordered, latest ALT above the reference range (order-sign)",
    ),
    "dantrolene-cirrhosis": (
        "dantrolene-hepatic-disease/fires-r4-sign-dantrolene-cirrhosis-icd10-critical",
        "Dantrolene ordered with cirrhosis on the problem list (order-sign)",
    ),
}


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("chromium not found: apt-get update && apt-get install -y chromium")


def _response(case: str) -> dict[str, object]:
    """The service's answer to the golden request (not the recorded file: what the code says now)."""
    request = GOLDEN / f"{case}.request.json"
    done = subprocess.run(
        [sys.executable, "-m", "spasticity_cds.cli", "evaluate", str(request)],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> int:
    from spasticity_cds.render import render_html

    OUT.mkdir(parents=True, exist_ok=True)
    browser = _chromium()
    for name, (case, title) in CASES.items():
        page = OUT / f"{name}.html"
        page.write_text(render_html(_response(case), title=title))
        shot = OUT / f"{name}.png"
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                [
                    browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--hide-scrollbars", "--no-first-run", f"--user-data-dir={profile}",
                    f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", page.as_uri(),
                ],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
        print(f"{shot.relative_to(REPO)}  <- {case}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
