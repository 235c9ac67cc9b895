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
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from approvals.app import create_app
from approvals.cli import main
from approvals.config import PROJECT_ROOT
from approvals.db import Database
from approvals.demo import work_until
from approvals.services import projects
from approvals.services.limits import Limits
from tests.conftest import LiveServer

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


# axe-core (npm, frontend/): the accessibility checker the browser tests run on every page.
AXE = PROJECT_ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"


def missing_assets(static: Path = STATIC) -> list[str]:
    return [name for name in ASSETS if not (static / name).is_file()] + ([] if AXE.is_file() else [str(AXE)])


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


def accessibility_violations(page) -> list[str]:
    """What axe-core finds wrong on the page (WCAG 2.1 A and AA), one line per rule and element.
    The page's context must bypass the security policy: axe runs as an injected script."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
            const rules = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
            const found = await axe.run(document, {runOnly: rules, resultTypes: ['violations']});
            return found.violations.flatMap(v => v.nodes.map(
                n => v.id + ': ' + n.target.join(' ') + ' — ' + n.failureSummary.split('\\n')[1]));
        }"""
    )
    return list(found)


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


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    """The demo (`approvals seed-demo`) once per module, with SZ-FCC brought to DRC's decision."""
    root = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{root / 'demo.sqlite3'}"
    result = CliRunner().invoke(main, ["--database-url", url, "seed-demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    database = Database(url, {"limits": Limits(data_dir=str(root / "data"))})
    with database.session() as session:
        fcc = projects.get_project(session, "SZ-FCC").instances[0].id
        work_until(session, fcc, {"decide"})
    database.dispose()
    return root


@pytest.fixture
def demo(demo_template, tmp_path):
    """A live server on a fresh copy of the demo."""
    shutil.copyfile(demo_template / "demo.sqlite3", tmp_path / "demo.sqlite3")
    shutil.copytree(demo_template / "data", tmp_path / "data")
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "DATA_DIR": str(tmp_path / "data"), "TESTING": True})
    database = Database(url, {"limits": Limits(data_dir=str(tmp_path / "data"))})
    with LiveServer(app) as server:
        yield server, database
    database.dispose()
    app.extensions["approvals_db"].dispose()


@pytest.fixture(scope="module")
def demo_app(demo_template, tmp_path_factory):
    """The demo behind a test client, shared by a module's tests that only read it."""
    yield from _demo_app(demo_template, tmp_path_factory.mktemp("demo-app"))


@pytest.fixture
def fresh_demo_app(demo_template, tmp_path):
    """The demo behind a test client, a fresh copy for a test that changes it."""
    yield from _demo_app(demo_template, tmp_path)


def _demo_app(demo_template, root):
    shutil.copyfile(demo_template / "demo.sqlite3", root / "demo.sqlite3")
    shutil.copytree(demo_template / "data", root / "data")
    url = f"sqlite:///{root / 'demo.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "DATA_DIR": str(root / "data"), "TESTING": True})
    app.extensions["approvals_untranslated"] = set()  # translate() records what it cannot find
    database = Database(url, {"limits": Limits(data_dir=str(root / "data"))})
    yield app, database
    database.dispose()
    app.extensions["approvals_db"].dispose()


def sign_in_client(app, username: str, lang: str = "zh", password: str = "demo"):
    """A test client signed in as ``username`` (the demo's password unless given), the language chosen before."""
    client = app.test_client()
    client.get(f"/lang/{lang}")
    page = client.get("/login").get_data(as_text=True)
    answer = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page)})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client
