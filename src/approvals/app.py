"""The Flask application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from . import api, db, headers, observability, web
from .config import load_settings
from .services import health
from .services.limits import Limits


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings from the environment, then ``config`` (tests) on top."""
    app = Flask(__name__, static_folder=str(Path(__file__).parent / "web" / "static"), static_url_path="/static")
    app.config.from_mapping(load_settings(config))
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # the default provider has it
    observability.init_app(app)  # first: the request id is set before anything else runs
    db.init_app(app, {"limits": Limits.from_settings(app.config)})
    api.init_app(app)
    web.init_app(app)
    headers.init_app(app)

    @app.get("/healthz")
    def healthz():
        """Up, with the timer workers' last heartbeat and the count of instances stopped in error;
        503 when the database cannot be reached."""
        try:
            return health.report(db.get_session())
        except SQLAlchemyError as exc:
            return {"status": "unavailable", "reason": f"the database cannot be read: {type(exc).__name__}"}, 503

    return app
