"""The browser tests stop at once, naming the file, when the front-end files from npm are missing."""

from __future__ import annotations

from tests.web.conftest import ASSETS, missing_assets


def test_every_missing_front_end_file_is_named(tmp_path):
    assert missing_assets(tmp_path) == list(ASSETS)
    (tmp_path / ASSETS[0]).parent.mkdir(parents=True)
    (tmp_path / ASSETS[0]).write_text("/* bpmn-js */")
    assert missing_assets(tmp_path) == list(ASSETS[1:])


def test_the_installed_files_are_complete():
    """`make test` installs them first (make assets), so the browser tests never wait for a missing one."""
    assert missing_assets() == []
