"""The ``approvals`` command line: database, deployment, users, demo data, serving."""

from __future__ import annotations

import glob
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from . import migrate
from .config import load_settings
from .db import Database
from .models import Role
from .services import agencies, calendar_years, definitions, users
from .services.errors import DomainError
from .services.limits import Limits
from .text import without_controls


@contextmanager
def open_database(settings: dict) -> Iterator[Database]:
    url = str(settings["DATABASE_URL"])
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    database = Database(url, {"limits": Limits.from_settings(settings)})
    try:
        yield database
    finally:
        database.dispose()


@click.group()
@click.option("--database-url", envvar="APPROVALS_DATABASE_URL", help="SQLAlchemy URL (default: var/approvals.sqlite3)")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """approvals: BPMN approvals for government-invested construction projects."""
    overrides = {"DATABASE_URL": database_url} if database_url else {}
    ctx.obj = load_settings(overrides)


def _say(text: str, err: bool = False) -> None:
    """Print a line; names come from the database and from uploaded models, so control characters
    (terminal escape sequences) are taken out first."""
    click.echo("\n".join(without_controls(line) for line in str(text).split("\n")), err=err)


def _fail(exc: DomainError) -> None:
    _say(f"error: {exc.message}", err=True)
    for field, messages in (exc.errors or {}).items():
        for message in messages if isinstance(messages, list) else [messages]:
            text = json.dumps(message, ensure_ascii=False) if isinstance(message, dict) else message
            _say(f"  {field}: {text}", err=True)
    sys.exit(1)


@main.command("init-db")
@click.pass_obj
def init_db(settings: dict) -> None:
    """Create or upgrade the schema (Alembic) and load the agency directory."""
    workflows = Path(settings["WORKFLOWS_DIR"])
    with open_database(settings) as database:
        migrate.upgrade(database.url)
        with database.session() as session:
            loaded = agencies.load_agencies(session, workflows / "agencies.toml")
            years = calendar_years.load_year_files(session, workflows / "calendar")
    _say(f"database ready; {len(loaded)} agencies loaded; calendar years loaded: {years or 'none'}")


def _forms_for(session, bpmn: bytes, forms_dir: Path) -> dict[str, bytes]:
    """The form files a model names, read from the forms folder (missing ones the linter reports)."""
    names = definitions.referenced_forms(session, bpmn)
    return {name: (forms_dir / name).read_bytes() for name in sorted(names) if (forms_dir / name).is_file()}


def _tests_for(session, bpmn: bytes, tests_dir: Path) -> list | None:
    """The model's test cases, one JSON file each in ``<tests_dir>/<key>/`` (None when it has none)."""
    key = definitions.model_key(session, bpmn)
    folder = tests_dir / key if key else None
    if folder is None or not folder.is_dir():
        return None
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))]


def deploy_files(database: Database, paths: list[str], forms_dir: Path, actor_name: str | None = None) -> int:
    """Publish BPMN and DMN files, callees first, with the forms they name and their test cases
    (``tests/<key>/*.json`` beside the forms folder); returns how many were refused."""
    files = {}
    for pattern in paths:
        for name in sorted(glob.glob(pattern)) or [pattern]:
            files[name] = Path(name).read_bytes()
    failures = 0
    with database.session(read_only=True) as session:
        order = definitions.publication_order(session, files)
    for name in order:
        with database.session() as session:
            actor = users.get_user(session, actor_name) if actor_name else None
            try:
                forms = _forms_for(session, files[name], forms_dir)
                tests = _tests_for(session, files[name], forms_dir.parent / "tests")
                definition, created = definitions.publish(
                    session, files[name], forms, actor, filename=Path(name).name, tests=tests
                )
            except DomainError as exc:
                _say(f"{name}: refused: {exc.message}", err=True)
                for problem in exc.errors.get("bpmn", []):
                    _say(f"  {problem['element'] or 'file'}: {problem['message']}", err=True)
                failures += 1
                session.rollback()
                continue
            state = "published" if created else "unchanged"
            _say(f"{name}: {definition.key} version {definition.version} {state}")
    return failures


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--forms-dir", type=click.Path(file_okay=False, path_type=Path), help="default: workflows/forms")
@click.option("--as-user", "actor", help="record this user as the publisher")
@click.pass_obj
def deploy(settings: dict, paths: tuple[str, ...], forms_dir: Path | None, actor: str | None) -> None:
    """Publish BPMN and DMN files (callees first), with the forms they name from workflows/forms/."""
    forms_dir = forms_dir or Path(settings["WORKFLOWS_DIR"]) / "forms"
    with open_database(settings) as database:
        failures = deploy_files(database, list(paths), forms_dir, actor)
    if failures:
        sys.exit(1)


@main.command("create-user")
@click.option("--username", required=True)
@click.option("--password", required=True, prompt=True, hide_input=True)
@click.option("--agency", "agency_code", required=True, help="agency code, e.g. DRC")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--name", "display_name", default="")
@click.pass_obj
def create_user(settings: dict, username: str, password: str, agency_code: str, role: str, display_name: str) -> None:
    """Create a user of an agency."""
    try:
        with open_database(settings) as database, database.session() as session:
            users.create_user(
                session,
                username=username,
                password=password,
                agency_code=agency_code,
                role=role,
                display_name=display_name,
            )
    except DomainError as exc:
        _fail(exc)
    _say(f"user {username} ({agency_code}, {role}) created")


@main.command()
@click.option("--username", required=True)
@click.pass_obj
def token(settings: dict, username: str) -> None:
    """Print a new API token for a user."""
    with open_database(settings) as database, database.session() as session:
        user = users.get_user(session, username)
        if user is None:
            _say(f"error: no user {username!r}", err=True)
            sys.exit(1)
        value, _ = users.issue_token(session, user, int(settings["TOKEN_DAYS"]))
    _say(value)


@main.group("calendar")
def calendar_group() -> None:
    """The working-day calendar."""


@calendar_group.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def calendar_load(settings: dict, path: Path) -> None:
    """Load (or replace) a year's official holiday arrangement from a year file."""
    try:
        with open_database(settings) as database, database.session() as session:
            loaded = calendar_years.load_year(session, path.read_text(encoding="utf-8"), None)
            row = loaded.row
            for moved in loaded.moved:
                where = f"{moved['project']} {moved['step']} ({moved['agency']})"
                still = " (provisional)" if moved["provisional"] else ""
                _say(f"  {where}: due {moved['before']} -> {moved['after']}{still}")
    except DomainError as exc:
        _fail(exc)
    _say(f"{row.year}: {len(row.rest_days)} rest days, {len(row.work_days)} make-up working days loaded")


@calendar_group.command("show")
@click.argument("year", type=int)
@click.pass_obj
def calendar_show(settings: dict, year: int) -> None:
    """Print a year's rest days on weekdays and its worked weekend days."""
    with open_database(settings) as database, database.session(read_only=True) as session:
        view = calendar_years.year_view(session, year)
    if not view["official"]:
        _say(f"{year}: no official arrangement; weekdays are assumed and due dates are provisional")
    _say(f"rest days on weekdays: {', '.join(d.isoformat() for d in view['rest_days']) or 'none'}")
    _say(f"weekend days worked:   {', '.join(d.isoformat() for d in view['work_days']) or 'none'}")


@main.command("status")
@click.argument("code")
@click.pass_obj
def status_command(settings: dict, code: str) -> None:
    """Where a project stands: open steps, finished steps and the statutory clock, as tables."""
    from .models import utcnow
    from .services import status as project_status
    from .services.deadlines import workdays_so_far
    from .workdays import local_date

    with open_database(settings) as database, database.session(read_only=True) as session:
        try:
            found = project_status.project_status(session, code)
        except DomainError as exc:
            _fail(exc)
        work, now, project = calendar_years.calendar_of(session), utcnow(), found.project
        commitment = found.commitment
        _say(
            f"{project.code} {project.name}: {commitment.counted_workdays} of {commitment.commitment_workdays} "
            "committed working days used"
        )
        for leg in commitment.legs:
            _say(f"  {leg.stage}: {leg.counted_workdays} working days" + ("" if leg.counts else " (not counted)"))
        _say(f"  waiting on the applicant: {commitment.waiting_on_applicant_workdays} working days (not counted)")
        for entry in found.instances:
            instance = entry.instance
            stages = entry.stages
            _say(
                f"\n#{instance.id} {instance.definition.name} v{instance.definition.version}: {instance.status}"
                + (f" - now in {', '.join(stages)}" if stages else "")
                + (f" - {instance.result}" if instance.result else "")
            )
            rows: list[tuple[str, ...]] = [("agency", "open step", "assignee", "since", "due", "WD used/limit", "")]
            for task in entry.open_tasks:
                due = "-"
                if task.due_at is not None:  # "?" marks a provisional date (a year without official data)
                    due = local_date(task.due_at).isoformat() + ("?" if task.due_provisional else "")
                late = "OVERDUE" if task.overdue_at(now) else ""
                used = workdays_so_far(work, task, now)
                rows.append(
                    (
                        task.agency_code,
                        task.name,
                        task.assignee.username if task.assignee else "-",
                        local_date(task.created_at).isoformat(),
                        due,
                        f"{used}/{task.limit_workdays or '-'}",
                        late,
                    )
                )
            if len(rows) > 1:
                _table(rows)
            done: list[tuple[str, ...]] = [("agency", "finished step", "by", "on", "outcome", "WD used")]
            for task in entry.completed_tasks:
                done.append(
                    (
                        task.agency_code,
                        task.name,
                        task.completed_by.username if task.completed_by else "-",
                        local_date(task.completed_at or now).isoformat(),
                        task.outcome or "-",
                        str(task.counted_workdays if task.counted_workdays is not None else "-"),
                    )
                )
            if len(done) > 1:
                _table(done)
            for clock in entry.agencies:
                _say(
                    f"  {clock.agency}: {clock.counted_workdays} of {clock.limit_workdays or '-'} working days"
                    + (" - OVERDUE" if clock.overdue else "")
                )


def _table(rows: list[tuple[str, ...]]) -> None:
    import unicodedata

    def width(text: str) -> int:  # CJK characters take two columns in a terminal
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        _say("  " + "  ".join(cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row)).rstrip())


@main.command("seed-demo")
@click.pass_obj
def seed_demo(settings: dict) -> None:
    """Create the schema, agencies, demo users, the bundled models and demo projects (idempotent)."""
    from .demo import seed

    workflows = Path(settings["WORKFLOWS_DIR"])
    with open_database(settings) as database:
        migrate.upgrade(database.url)
        with database.session() as session:
            agencies.load_agencies(session, workflows / "agencies.toml")
            calendar_years.load_year_files(session, workflows / "calendar")
        bundled = [str(Path(settings["BPMN_DIR"]) / "*.bpmn"), str(Path(settings["BPMN_DIR"]) / "*.dmn")]
        if deploy_files(database, [p for p in bundled if glob.glob(p)], workflows / "forms"):
            sys.exit(1)
        with database.session() as session:
            for line in seed(session):
                _say(line)


@main.command()
@click.option("--interval", default=5.0, show_default=True, help="seconds between polls")
@click.option("--once", is_flag=True, help="fire what is due now, then exit")
@click.pass_obj
def worker(settings: dict, interval: float, once: bool) -> None:
    """Fire due BPMN timers, escalate overdue steps, deliver events to webhooks and remove stored
    files nothing refers to. Several workers may run at once."""
    import time

    from .observability import configure_logging
    from .process_tuning import tune_process
    from .services import dispatch, escalation, health, materials, timers

    configure_logging()
    name = health.worker_name()
    webhooks = dispatch.Settings.of(settings)
    with open_database(settings) as database:
        if not once:  # a process that keeps running
            tune_process()
        while True:
            handled = timers.run_due(database)
            if handled:
                _say(f"fired due timers of {handled} instance(s)")
            escalated = escalation.escalate_overdue(database)
            if escalated:
                _say(f"escalated {escalated} overdue step(s) to their agencies' leads")
            sent = dispatch.run_pass(database, webhooks)
            if sent:
                _say(f"sent {sent} webhook deliveries")
            with database.session(read_only=True) as session:
                collected = materials.collect_garbage(session)
            if collected:
                _say(f"removed {collected} stored file(s) that no material refers to")
            with database.session() as session:
                health.beat(session, name)
            if once:
                return
            time.sleep(interval)


@main.command()
@click.option("--bind", default="127.0.0.1:5000", show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes")
@click.option("--threads", default=4, show_default=True, help="threads per worker")
@click.option(
    "--keep-alive",
    default=0,
    show_default=True,
    help="seconds an idle client connection is kept open; 0 closes it after each answer",
)
@click.option("--with-worker", is_flag=True, help="also run the timer worker (the embedded demo)")
@click.pass_obj
def serve(settings: dict, bind: str, workers: int, threads: int, keep_alive: int, with_worker: bool) -> None:
    """Serve the application with gunicorn.

    Connections are closed after each answer by default: a kept-alive connection stays with the
    worker that accepted it, so under load a few workers served every client while the others
    idled (one worker process runs Python on one core at a time) and those clients waited 4x the
    median; closed, each request goes to a worker free to take it (issue 19). A proxy in front
    keeps its own connections to the browsers."""
    import os
    import tempfile

    # Before prometheus_client is first imported: every worker then counts into this folder, and
    # a scrape of any of them adds all of them up.
    metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="approvals-metrics-"))
    for stale in Path(metrics_dir).glob("*.db"):
        stale.unlink()
    from gunicorn.app.base import BaseApplication
    from prometheus_client import multiprocess

    from .app import create_app
    from .observability import configure_logging
    from .process_tuning import tune_process
    from .supervise import Supervisor

    configure_logging()

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("keepalive", keep_alive)
            self.cfg.set("accesslog", None)  # each request is a JSON log line of the app's, with its id
            self.cfg.set("child_exit", lambda _server, worker: multiprocess.mark_process_dead(worker.pid))
            self.cfg.set("post_worker_init", lambda _worker: tune_process())  # the app is loaded by then

        def load(self):
            return create_app({"DATABASE_URL": settings["DATABASE_URL"]})

    timer_worker = None
    if with_worker:  # kept running: started again, with back-off, whenever it exits
        command = [sys.executable, "-m", "approvals.cli", "--database-url", str(settings["DATABASE_URL"]), "worker"]
        timer_worker = Supervisor(command).start()
    try:
        Server().run()
    finally:
        if timer_worker is not None:
            timer_worker.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
