"""The layering DESIGN.md states, checked on the source: api/ and web/ never import each other, only
engine/ imports SpiffWorkflow, and no view commits or rolls back the request's transaction; and
endpoints read their arguments with a schema instance."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "approvals"


def _modules(folder: str = "") -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _imports(path: Path, root: Path = PACKAGE) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    module = ".".join(("approvals", *path.relative_to(root).with_suffix("").parts))
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _offenders(paths: list[Path], forbidden: str, root: Path = PACKAGE) -> list[str]:
    return [
        f"{path.relative_to(root)} imports {name}"
        for path in paths
        for name in sorted(_imports(path, root))
        if name == forbidden or name.startswith(forbidden + ".")
    ]


@pytest.mark.parametrize(("folder", "forbidden"), [("web", "approvals.api"), ("api", "approvals.web")])
def test_api_and_web_do_not_import_each_other(folder, forbidden):
    assert _offenders(_modules(folder), forbidden) == []


def test_only_the_engine_imports_spiffworkflow():
    outside = [path for path in _modules() if path.relative_to(PACKAGE).parts[0] != "engine"]
    assert _offenders(outside, "SpiffWorkflow") == []


def _calls(path: Path, names: set[str], root: Path = PACKAGE) -> list[str]:
    return [
        f"{path.relative_to(root)}:{node.lineno} calls {node.func.attr}()"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names
    ]


def test_no_view_commits_or_rolls_back():
    """The request's transaction ends once, in db.py; services flush and views render."""
    views = [*_modules("api"), PACKAGE / "web" / "views.py", PACKAGE / "web" / "auth.py"]
    assert [hit for path in views for hit in _calls(path, {"commit", "rollback"})] == []


def _schema_classes_given(path: Path, root: Path = PACKAGE) -> list[str]:
    """``@blp.arguments(SomeSchema)``: given a class, webargs makes an instance on every request."""
    return [
        f"{path.relative_to(root)}:{node.lineno} reads its arguments with a new {node.args[0].id} each request"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "arguments"
        and node.args
        and isinstance(node.args[0], ast.Name)
    ]


def test_endpoints_read_their_arguments_with_one_schema_instance():
    assert [hit for path in _modules("api") for hit in _schema_classes_given(path)] == []


def test_the_checks_find_what_they_look_for(tmp_path):
    """A module that breaks each rule is caught (so a pass above means something)."""
    probe = tmp_path / "web" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(
        "from ..api.auth import bearer_token\nfrom SpiffWorkflow.bpmn import BpmnWorkflow\n\n"
        "def view(session):\n    session.rollback()\n\n@blp.arguments(StartRequest)\ndef start(args):\n    pass\n"
    )
    assert _offenders([probe], "approvals.api", tmp_path) == [
        "web/probe.py imports approvals.api.auth",
        "web/probe.py imports approvals.api.auth.bearer_token",
    ]
    assert _offenders([probe], "SpiffWorkflow", tmp_path) == [
        "web/probe.py imports SpiffWorkflow.bpmn",
        "web/probe.py imports SpiffWorkflow.bpmn.BpmnWorkflow",
    ]
    assert _calls(probe, {"commit", "rollback"}, tmp_path) == ["web/probe.py:5 calls rollback()"]
    assert _schema_classes_given(probe, tmp_path) == [
        "web/probe.py:7 reads its arguments with a new StartRequest each request"
    ]
