"""Settings, read from the environment in this one place (prefix ``APPROVALS_``)."""

from __future__ import annotations

import os
from pathlib import Path

# The repository root when running from a checkout; bundled models and workflows live there.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

DEFAULTS: dict[str, object] = {
    "DATABASE_URL": f"sqlite:///{PROJECT_ROOT / 'var' / 'approvals.sqlite3'}",
    "SECRET_KEY": "dev-only-secret-change-me",
    "WORKFLOWS_DIR": str(PROJECT_ROOT / "workflows"),
    "BPMN_DIR": str(PROJECT_ROOT / "bpmn"),
    # Uploaded materials, stored once per content under <DATA_DIR>/materials/ by SHA-256.
    "DATA_DIR": str(PROJECT_ROOT / "var" / "data"),
    "MAX_MATERIAL_BYTES": 50 * 1024 * 1024,  # one file
    "MAX_TASK_MATERIAL_BYTES": 200 * 1024 * 1024,  # all files of one step
    # Upload limits: a BPMN file, one form schema, and a whole request.
    "MAX_BPMN_BYTES": 2 * 1024 * 1024,
    "MAX_FORM_BYTES": 256 * 1024,
    "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
    # Process data one request may add (start data, a form submission), as JSON: it is stored three
    # times over (the instance's state, the step row, the history), so it is kept small.
    "MAX_DATA_BYTES": 256 * 1024,
    # An instance's whole saved state (its data and the engine's bookkeeping).
    "MAX_INSTANCE_STATE_BYTES": 8 * 1024 * 1024,
    # Script tasks run in a child process with these limits.
    "SCRIPT_TIMEOUT_SECONDS": 1.0,
    "SCRIPT_MEMORY_BYTES": 256 * 1024 * 1024,
    # A timer whose work fails is tried again this many times, after 1, 2, 4… times this many
    # seconds, before its instance stops in error with an incident (a locked database, a flaky
    # dependency pass; a bug in the model does not).
    "TIMER_RETRIES": 3,
    "TIMER_RETRY_SECONDS": 60,
    "TOKEN_DAYS": 30,
    # Webhooks: the only hosts (host or host:port, comma-separated) a webhook may point at, and how
    # deliveries are retried: attempts before a delivery is dead, the first wait (then doubled,
    # capped at an hour), and how long a receiver may take to answer.
    "WEBHOOK_HOSTS": "",
    # Notifications by e-mail: none without an SMTP host. Links in mails start with BASE_URL; a step
    # is "due soon" this many working days before its due date.
    "SMTP_HOST": "",
    "SMTP_PORT": 25,
    "SMTP_FROM": "approvals@localhost",
    "SMTP_USER": "",
    "SMTP_PASSWORD": "",
    "SMTP_STARTTLS": False,
    "BASE_URL": "http://127.0.0.1:5000",
    "NOTIFY_DUE_WORKDAYS": 2,
    # Single sign-on (OpenID Connect) beside local passwords, when an issuer is set. The agency comes
    # from one claim, matched to the directory (a code, an alias or a name) or through the map
    # ("claim value=CODE;..."); the role from another claim through its map, else the default.
    "OIDC_ISSUER": "",
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": "",
    "OIDC_AGENCY_CLAIM": "department",
    "OIDC_AGENCY_MAP": "",
    "OIDC_ROLE_CLAIM": "title",
    "OIDC_ROLE_MAP": "",
    "OIDC_DEFAULT_ROLE": "staff",
    # GET /metrics asks for this bearer token when it is set (empty: anyone who reaches it may scrape).
    "METRICS_TOKEN": "",
    "WEBHOOK_ATTEMPTS": 8,
    "WEBHOOK_RETRY_SECONDS": 30.0,
    "WEBHOOK_TIMEOUT_SECONDS": 10.0,
    # Set to 1 behind TLS: the session cookie is then only sent over HTTPS.
    "SESSION_COOKIE_SECURE": False,
}


def load_settings(overrides: dict | None = None) -> dict[str, object]:
    """Defaults, then ``APPROVALS_*`` environment variables, then explicit overrides (tests)."""
    settings = dict(DEFAULTS)
    for name, default in DEFAULTS.items():
        raw = os.environ.get(f"APPROVALS_{name}")
        if raw is None:
            continue
        if isinstance(default, bool):
            settings[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int | float):
            settings[name] = type(default)(raw)
        else:
            settings[name] = raw
    settings.update(overrides or {})
    return settings
