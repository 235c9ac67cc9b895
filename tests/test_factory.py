"""The application factory and the OpenAPI contract."""

from __future__ import annotations

from approvals.app import create_app

# The REST contract of DESIGN.md that this service implements (path, method).
CONTRACT = [
    ("/api/tokens", "post"),
    ("/api/agencies", "get"),
    ("/api/process-definitions", "get"),
    ("/api/process-definitions", "post"),
    ("/api/process-definitions/{key}/versions/{version}/bpmn", "get"),
    ("/api/projects", "get"),
    ("/api/projects", "post"),
    ("/api/projects/{code}/status", "get"),
    ("/api/projects/{code}/instances", "post"),
    ("/api/instances/{instance_id}", "get"),
    ("/api/instances/{instance_id}/events", "get"),
    ("/api/instances/{instance_id}/suspend", "post"),
    ("/api/instances/{instance_id}/resume", "post"),
    ("/api/instances/{instance_id}/terminate", "post"),
    ("/api/tasks", "get"),
    ("/api/tasks/{task_id}", "get"),
    ("/api/tasks/{task_id}/claim", "post"),
    ("/api/tasks/{task_id}/unclaim", "post"),
    ("/api/tasks/{task_id}/assign", "post"),
    ("/api/tasks/{task_id}/complete", "post"),
    # additions
    ("/api/tokens/current", "delete"),
    ("/api/instances/{instance_id}/comments", "post"),
    ("/api/calendar/years/{year}", "get"),
    ("/api/calendar/years/{year}", "put"),
    ("/api/tasks/{task_id}/materials", "post"),
    ("/api/instances/{instance_id}/materials", "get"),
    ("/api/projects/{code}/materials", "get"),
    ("/api/materials/{material_id}", "get"),
    ("/api/materials/{material_id}", "delete"),
    ("/api/tasks/{task_id}/send-back", "post"),
    ("/api/tasks/{task_id}/delegate", "post"),
    ("/api/tasks/{task_id}/recall", "post"),
    ("/api/substitutions", "get"),
    ("/api/substitutions", "post"),
    ("/api/substitutions/{substitution_id}", "delete"),
]


def test_factory_honours_the_given_config(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "TESTING": True, "MAX_BPMN_BYTES": 1234})
    assert app.testing and app.config["DATABASE_URL"] == url and app.config["MAX_BPMN_BYTES"] == 1234
    assert not create_app({"DATABASE_URL": url}).testing


def test_environment_settings_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("APPROVALS_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    monkeypatch.setenv("APPROVALS_SCRIPT_TIMEOUT_SECONDS", "2.5")
    app = create_app()
    assert app.config["DATABASE_URL"].endswith("env.sqlite3") and app.config["SCRIPT_TIMEOUT_SECONDS"] == 2.5


def test_openapi_documents_the_whole_contract(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    client = app.test_client()
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path, method in CONTRACT:
        assert method in spec["paths"].get(path, {}), (path, method)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert client.get("/healthz").status_code == 503  # this database was never created: said, not a 500


def test_docs_page_loads_only_local_assets(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    page = app.test_client().get("/api/docs").get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
