"""The Flask application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from . import api, db, headers, web
from .config import load_settings
from .services.limits import Limits


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings from the environment, then ``config`` (tests) on top."""
    app = Flask(__name__, static_folder=str(Path(__file__).parent / "web" / "static"), static_url_path="/static")
    app.config.from_mapping(load_settings(config))
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # the default provider has it
    db.init_app(app, {"limits": Limits.from_settings(app.config)})
    api.init_app(app)
    web.init_app(app)
    headers.init_app(app)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
