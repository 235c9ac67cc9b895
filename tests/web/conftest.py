"""Browser tests: Playwright (Python) driving Debian's Chromium against the app on a live server.

Without /usr/bin/chromium these tests are skipped with a message saying so, except where
APPROVALS_REQUIRE_BROWSER is set (CI sets it): there a missing browser fails them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from approvals.config import PROJECT_ROOT

CHROMIUM = Path(os.environ.get("APPROVALS_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="session")
def chromium():
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
