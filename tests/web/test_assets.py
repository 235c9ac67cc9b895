"""The browser tests stop at once, naming the file, when the front-end files from npm are missing."""

from __future__ import annotations

import gzip
import hashlib
import re

import brotli

from tests.web.conftest import ASSETS, STATIC, missing_assets


def test_every_missing_front_end_file_is_named(tmp_path):
    assert missing_assets(tmp_path) == list(ASSETS)
    (tmp_path / ASSETS[0]).parent.mkdir(parents=True)
    (tmp_path / ASSETS[0]).write_text("/* bpmn-js */")
    assert missing_assets(tmp_path) == list(ASSETS[1:])


def test_the_installed_files_are_complete():
    """`make test` installs them first (make assets), so the browser tests never wait for a missing one."""
    assert missing_assets() == []


def test_static_files_are_fingerprinted_cached_long_and_compressed(client):
    page = client.get("/login").get_data(as_text=True)
    css = re.search(r'href="(/static/app\.css\?v=[0-9a-f]{12})"', page).group(1)
    with client.get(css, headers={"Accept-Encoding": "gzip, deflate, br"}) as answer:  # as Chromium asks
        assert answer.status_code == 200 and answer.headers["Content-Encoding"] == "br"
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert brotli.decompress(answer.get_data()) == (STATIC / "app.css").read_bytes()
    page = client.get("/login", headers={"Accept-Encoding": "gzip"})  # pages too
    assert page.headers["Content-Encoding"] == "gzip" and b"<html" in gzip.decompress(page.get_data())
    # Without its fingerprint a file is revalidated, never kept stale.
    with client.get("/static/app.css") as plain:
        assert "immutable" not in plain.headers["Cache-Control"] and "no-cache" in plain.headers["Cache-Control"]
    # The fingerprint follows the content.
    assert css.endswith(hashlib.sha256((STATIC / "app.css").read_bytes()).hexdigest()[:12])
