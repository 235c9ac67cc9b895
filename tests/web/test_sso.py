"""Single sign-on through a real OpenID provider started here (oidc-provider from npm, frontend/),
in Debian's Chromium: a person of a known agency lands in their agency's inbox with an account
made from the claims; one whose claims name no agency is refused with a page that says so."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from approvals.app import create_app
from approvals.config import PROJECT_ROOT
from approvals.db import Database
from approvals.models import Event, User
from approvals.services.limits import Limits
from tests.conftest import LiveServer
from tests.processes import free_port
from tests.web.conftest import screenshot

PROVIDER = PROJECT_ROOT / "frontend" / "oidc-test-provider.mjs"
CLIENT_ID, CLIENT_SECRET = "approvals", "a-client-secret-for-the-tests"


@pytest.fixture
def sso(chromium, demo_template, tmp_path):
    """The demo behind a live server that signs in through a local OpenID provider."""
    shutil.copyfile(demo_template / "demo.sqlite3", tmp_path / "demo.sqlite3")
    shutil.copytree(demo_template / "data", tmp_path / "data")
    url, port = f"sqlite:///{tmp_path / 'demo.sqlite3'}", free_port()
    issuer = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path / "data"),
            "TESTING": True,
            "OIDC_ISSUER": issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_ROLE_MAP": "科长=lead",
        }
    )
    with LiveServer(app) as server:
        callback = f"{server.url}/login/oidc/callback"
        provider = subprocess.Popen(
            [shutil.which("node") or "node", str(PROVIDER), str(port), CLIENT_ID, CLIENT_SECRET, callback],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).raise_for_status()
                    break
                except requests.RequestException:
                    time.sleep(0.1)
            context = chromium.new_context(base_url=server.url, locale="zh-CN")
            yield context.new_page(), Database(url, {"limits": Limits(data_dir=str(tmp_path / "data"))})
            context.close()
        finally:
            provider.terminate()
            provider.wait(timeout=10)
    app.extensions["approvals_db"].dispose()


def sign_in_at_provider(page, login: str) -> None:
    page.goto("/login")
    page.click("[data-testid=sso]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")


def test_a_person_of_a_known_agency_lands_in_their_inbox(sso):
    page, database = sso
    sign_in_at_provider(page, "drc-wang")
    page.wait_for_url("**/tasks")
    expect(page.locator("[data-testid=signed-in]")).to_contain_text("王五")
    expect(page.locator("[data-testid=signed-in]")).to_contain_text("(DRC)")
    expect(page.locator("tr[data-bpmn-id=decide]")).to_have_count(1)  # DRC's step of SZ-FCC
    screenshot(page, "sso-inbox")
    with database.session() as session:
        wang = session.scalar(select(User).where(User.username == "drc-wang"))
        assert (wang.agency_code, wang.role, wang.display_name) == ("DRC", "staff", "王五")
        made = session.scalars(select(Event).where(Event.type == "user.created")).all()
        assert [e.payload["by"] for e in made] == ["sso"]
    database.dispose()


def test_a_person_whose_claims_name_no_agency_is_refused(sso):
    page, database = sso
    sign_in_at_provider(page, "stranger")
    expect(page.locator("[data-testid=error-page]")).to_contain_text("不在本系统的单位目录中")
    expect(page.locator("[data-testid=error-page]")).to_contain_text("某外地单位")
    assert page.locator("[data-testid=signed-in]").count() == 0
    screenshot(page, "sso-refused")
    with database.session() as session:
        assert session.scalar(select(User).where(User.username == "stranger")) is None
    database.dispose()
