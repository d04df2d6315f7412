"""Headless Chromium (Debian's chromium + chromium-driver) driven by selenium, and axe-core from npm.

Tools that are missing make a test skip with the command that installs them, except under
`CI=true`, where a missing tool is a failure: CI installs them (.ci/run), so a skip there would
hide a broken install.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "tools" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")


def _missing(what: str, install: str) -> None:
    message = f"{what} is not installed ({install})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def chromium_paths() -> tuple[str, str]:
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        _missing("chromium / chromedriver", "apt-get install -y chromium chromium-driver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _missing("selenium", "pip install -e '.[test]'")
    return str(browser), str(driver)


def axe_source() -> str:
    if not AXE.exists():
        _missing("axe-core", "cd tools/a11y && npm ci")
    return AXE.read_text(encoding="utf-8")


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    browser, driver_path = chromium_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        *CHROMIUM_FLAGS,
        f"--window-size={width},{height}",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def full_page_screenshot(driver: Any, path: Path, width: int = 1280) -> None:
    """The whole page, not just the window: the viewport is set to the document's height."""
    height = int(driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)"))
    metrics = {"width": width, "height": min(max(height, 400), 8000), "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def axe_violations(driver: Any, source: str) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A/AA rules on the loaded page; the serious and critical violations."""
    driver.execute_script(source)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
        " 'best-practice']}}).then(r => done(r.violations), e => done([{id: 'axe-error', impact: 'critical',"
        " help: String(e), nodes: []}]));"
    )
    return [v for v in result if v.get("impact") in ("serious", "critical")]
