"""Browser tests: Playwright (Python) driving Debian's Chromium against the app on a live server.

Without /usr/bin/chromium these tests are skipped with a message saying so, except where
APPROVALS_REQUIRE_BROWSER is set (CI sets it): there a missing browser fails them. Without the
front-end files from npm (``make assets``) they fail at once, naming the missing file.

Screenshots go to $APPROVALS_SCREENSHOTS, by default a folder under the system's temporary
directory; ``make screenshots`` writes them into docs/screenshots/ instead.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

from approvals.config import PROJECT_ROOT

CHROMIUM = Path(os.environ.get("APPROVALS_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("APPROVALS_SCREENSHOTS") or Path(tempfile.gettempdir()) / "approvals-screenshots")
STATIC = PROJECT_ROOT / "src" / "approvals" / "web" / "static"
# What the pages load from npm (make assets); without them a page waits for bpmn-js until it times out.
ASSETS = (
    "vendor/bpmn-js/bpmn-modeler.production.min.js",
    "vendor/bpmn-js/bpmn-navigated-viewer.production.min.js",
    "vendor/bpmn-js/assets/bpmn-js.css",
    "vendor/swagger-ui/swagger-ui-bundle.js",
    "vendor/approvals-modeler/modeler.bundle.js",
    "vendor/approvals-modeler/decision.bundle.js",
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def missing_assets(static: Path = STATIC) -> list[str]:
    return [name for name in ASSETS if not (static / name).is_file()]


@pytest.fixture(scope="session")
def chromium():
    missing = missing_assets()
    if missing:
        pytest.fail(f"front-end files missing (run `make assets`): {', '.join(missing)}")
    if not CHROMIUM.exists():
        message = f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("APPROVALS_REQUIRE_BROWSER"):
            pytest.fail(message.replace("skipped", "cannot run"))
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


def sign_in(page, username: str, password: str = "demo") -> None:
    page.context.clear_cookies()
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=signed-in]")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
