"""The REST API (flask-smorest): OpenAPI at /api/openapi.json, interactive docs at /api/docs."""

from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api
from flask_smorest.spec.plugins import integerconverter2paramschema, unicodeconverter2paramschema

from . import auth, errors
from .converters import PathText, RowId
from .json_body import check_json_body


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "approvals")
    app.config.setdefault("API_VERSION", "1.0")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    # Served from our own static files (installed by `make assets`): no page loads another host.
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/static/vendor/swagger-ui/")
    api = Api(
        app,
        spec_kwargs={
            "info": {
                "description": "Approvals of government-invested construction projects. "
                "Authenticate with POST /api/tokens, then send 'Authorization: Bearer <token>'."
            },
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    # Path parameters the database can hold; anything else is a 404 (see converters.py).
    app.url_map.converters.update({"int": RowId, "default": PathText, "string": PathText})
    api.register_converter(RowId, integerconverter2paramschema)
    api.register_converter(PathText, unicodeconverter2paramschema)

    from . import (
        agencies,
        calendar,
        definitions,
        incidents,
        instances,
        materials,
        me,
        messages,
        projects,
        substitutions,
        tasks,
        tokens,
        webhooks,
    )

    for module in (
        tokens,
        agencies,
        definitions,
        projects,
        instances,
        tasks,
        materials,
        substitutions,
        calendar,
        incidents,
        webhooks,
        me,
        messages,
    ):
        api.register_blueprint(module.blp)

    @app.before_request
    def _require_token():
        # Signing in and reading the API documentation are the only things done without a token.
        signing_in = request.endpoint == f"{tokens.blp.name}.create_token"
        if request.blueprint not in (None, "api-docs") and not signing_in and request.path.startswith("/api/"):
            auth.authenticate()
        if request.path.startswith("/api/"):
            check_json_body()  # after the token: an anonymous caller learns nothing from it

    errors.init_app(app)
