"""The admin pages in a real browser against a running instance (gunicorn, two workers) with
seeded feedback: every page loads and is styled, the numbers in #analytics are those of
`spasticity-cds report --json --since Nd` on the same database, axe-core finds no serious or
critical accessibility violation, and screenshots are saved (into docs/ by `make admin-shots`,
which sets ADMIN_SHOTS_DIR; elsewhere into a temporary folder)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from spasticity_cds.check import load_samples
from spasticity_cds.knowledge import load_knowledge
from spasticity_cds.store import Store
from tests.admin.browser import axe_source, axe_violations, chromium, chromium_paths, full_page_screenshot
from tests.admin.helpers import expected_cells, seed
from tests.support.gunicorn import GunicornServer, running_gunicorn

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SHOWN_RULE = "benzodiazepine-spasticity"


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GunicornServer, dict[str, str]]]:
    chromium_paths()  # skip (or fail under CI) before starting anything
    data = tmp_path_factory.mktemp("admin-browser")
    env = {"CDS_DATA_DIR": str(data), "CDS_ADMIN": "on", "CDS_ACCESS_LOG": "off", "CDS_LOG_LEVEL": "WARNING"}
    url = f"sqlite:///{data / 'spasticity-cds.sqlite3'}"
    with Store(url) as store:  # history: 400 cards over 100 days with feedback
        seed(store, load_knowledge(), datetime.now(UTC))
    with running_gunicorn(workers=2, env=env, ready_path="/ready") as server:
        _live_traffic(server)
        yield server, {"CDS_DATABASE_URL": url}


def _live_traffic(server: GunicornServer) -> None:
    """Today's cards through the real endpoints: each rule's firing sample, then feedback on it."""
    for sample in (s for s in load_samples() if s["expect"] == "fires"):
        base = f"{server.url}/cds-services/{sample['service']}"
        cards = requests.post(base, json=sample["request"], timeout=30).json()["cards"]
        card = next(c for c in cards if c["source"]["topic"]["code"] == sample["rule"])
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if card.get("suggestions") and not card.get("overrideReasons"):
            item = {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": now,
                    "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}  # fmt: skip
        elif card.get("overrideReasons"):
            item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": now,
                    "overrideReason": {"reason": card["overrideReasons"][0]}}  # fmt: skip
        else:
            continue  # an info card without suggestions: ignored, as clinicians mostly do
        assert requests.post(f"{base}/feedback", json={"feedback": [item]}, timeout=30).status_code == 200


def _report_json(env: dict[str, str], days: int) -> dict[str, Any]:
    """`spasticity-cds report --json --since Nd`, the command the committee used before the page."""
    command = [sys.executable, "-c", "import sys; from spasticity_cds.cli import main; sys.exit(main())"]
    child = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")} | env
    child["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), child.get("PYTHONPATH")]))
    done = subprocess.run(  # noqa: S603 - fixed argv
        [*command, "report", "--json", "--since", f"{days}d"],
        capture_output=True, text=True, timeout=120, env=child, cwd=REPO, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _dom_rows(driver: Any) -> dict[str, dict[str, str]]:
    from selenium.webdriver.common.by import By

    rows = {}
    for tr in driver.find_elements(By.CSS_SELECTOR, "table#analytics tbody tr"):
        cells = {
            td.get_attribute("data-field"): td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")
        }
        rows[tr.get_attribute("data-rule-id")] = cells
    return rows


def _shots_dir(tmp_path: Path) -> Path:
    target = os.environ.get("ADMIN_SHOTS_DIR")
    return Path(target) if target else tmp_path


def test_pages_in_chromium_match_the_report_and_pass_axe(
    instance: tuple[GunicornServer, dict[str, str]], tmp_path: Path
) -> None:
    server, db_env = instance
    axe = axe_source()
    shots = _shots_dir(tmp_path)
    knowledge = load_knowledge()
    pages = {
        "admin-index.png": "/admin/",
        "admin-rules.png": "/admin/rules",
        "admin-rule.png": f"/admin/rules/{SHOWN_RULE}",
        "admin-analytics.png": "/admin/analytics?days=30",
    }
    pages |= {f"rule-{r['id']}": f"/admin/rules/{r['id']}" for r in knowledge.rules if r["id"] != SHOWN_RULE}
    pages |= {"analytics-7": "/admin/analytics?days=7", "analytics-90": "/admin/analytics?days=90"}
    problems: dict[str, Any] = {}
    with chromium() as driver:
        for name, path in pages.items():
            driver.get(server.url + path)
            assert driver.title.endswith("spasticity-cds governance"), (path, driver.title)
            # The stylesheet loaded and applied (the header bar is dark), and no error page.
            header = driver.execute_script(
                "return getComputedStyle(document.querySelector('.top')).backgroundColor"
            )
            assert header == "rgb(16, 42, 67)", (path, header)
            violations = axe_violations(driver, axe)
            if violations:
                problems[path] = [(v["id"], v["impact"], v["help"], len(v["nodes"])) for v in violations]
            if path.startswith("/admin/analytics"):
                days = int(path.rsplit("=", 1)[1])
                report = _report_json(db_env, days)
                rows = _dom_rows(driver)
                assert report["rules"], "seeded feedback must show"
                for rule_id, counts in report["rules"].items():
                    cells = rows[rule_id]
                    assert {k: cells[k] for k in expected_cells(counts)} == expected_cells(counts), (
                        days,
                        rule_id,
                    )
                    for reason in counts["top_override_reasons"]:
                        assert f"({reason['count']})" in cells["top_override_reasons"], (days, rule_id)
            if name.endswith(".png"):
                full_page_screenshot(driver, shots / name)
    assert not problems, f"axe-core serious/critical violations: {json.dumps(problems, indent=1)}"
    for name in (n for n in pages if n.endswith(".png")):
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_card_preview_looks_like_a_card(instance: tuple[GunicornServer, dict[str, str]]) -> None:
    from selenium.webdriver.common.by import By

    server, _ = instance
    with chromium() as driver:
        driver.get(f"{server.url}/admin/rules/dantrolene-hepatic-disease")
        card = driver.find_element(By.CSS_SELECTOR, "article.card")
        assert "card-critical" in card.get_attribute("class")
        edge = driver.execute_script("return getComputedStyle(arguments[0]).borderLeftColor", card)
        assert edge == "rgb(179, 38, 30)"  # the critical colour
        assert card.find_elements(By.CSS_SELECTOR, ".detail strong")  # Markdown rendered, not shown raw
        assert "**" not in card.find_element(By.CSS_SELECTOR, ".detail").text
        assert card.find_elements(By.CSS_SELECTOR, "button.suggestion")


def test_basic_auth_in_the_browser_with_jwt_on(tmp_path: Path) -> None:
    """With CDS_AUTH=jwt the page opens with its own basic-auth pair (what a browser can send) and
    stays closed without it."""
    chromium_paths()
    env = {
        "CDS_DATA_DIR": str(tmp_path), "CDS_ADMIN": "on", "CDS_AUTH": "jwt", "CDS_TRUST_SANDBOX": "true",
        "CDS_ADMIN_USER": "committee", "CDS_ADMIN_PASSWORD": "s3cret-pass", "CDS_ACCESS_LOG": "off",
    }  # fmt: skip
    with running_gunicorn(workers=1, env=env, ready_path="/health") as server:
        assert requests.get(f"{server.url}/admin/", timeout=10).status_code == 401
        pair = base64.b64encode(b"committee:s3cret-pass").decode()
        assert requests.get(f"{server.url}/admin/", headers={"Authorization": f"Basic {pair}"}, timeout=10).ok
        with chromium() as driver:
            driver.get(server.url.replace("http://", "http://committee:s3cret-pass@") + "/admin/rules")
            assert driver.title.startswith("Rules")
            header = driver.execute_script(
                "return getComputedStyle(document.querySelector('.top')).backgroundColor"
            )
            assert header == "rgb(16, 42, 67)"  # the stylesheet came through with the same credential
