"""Security headers on every answer (pages, API, downloads).

Pages run no inline script (every script is a file under /static), so the policy allows scripts
from this origin only; bpmn-js sets style attributes, hence 'unsafe-inline' for styles alone.
Swagger UI's page (flask-smorest's template) starts itself with an inline script: that one page
may run inline script, and it shows no user-supplied content. Nothing may frame a page. Answers
other than static files are not kept in any cache: they show one signed-in user's data.
"""

from __future__ import annotations

from flask import Flask, Response, request

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_POLICY = PAGE_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
DOCS_PATH = "/api/docs"


def init_app(app: Flask) -> None:
    static = (app.static_url_path or "/static") + "/"

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        # A download sets its own (sandbox) policy; keep it.
        headers.setdefault("Content-Security-Policy", DOCS_POLICY if request.path == DOCS_PATH else PAGE_POLICY)
        if not request.path.startswith(static):
            headers["Cache-Control"] = "no-store"
        return response
