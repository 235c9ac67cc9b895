"""/healthz shows the timer workers' heartbeat and the instances stopped in error; the supervisor
of `serve --with-worker` starts a worker that exits again, with back-off."""

from __future__ import annotations

import os
import shutil
import sys
import time

import pytest
from click.testing import CliRunner

from approvals.cli import main
from approvals.supervise import Supervisor
from tests.factories import start
from tests.processes import Server


def test_healthz_shows_the_worker_heartbeat_and_instances_in_error(client, database, database_url, people, sample):
    before = client.get("/healthz").json
    assert before == {
        "status": "ok",
        "worker": {"last_heartbeat": None, "age_seconds": None},
        "instances_in_error": 0,
        "open_incidents": 0,
    }
    result = CliRunner().invoke(main, ["--database-url", database_url, "worker", "--once"], catch_exceptions=False)
    assert result.exit_code == 0
    with database.session() as session:
        instance, _ = start(session)
        instance.status = "error"  # as a failed model leaves it
    after = client.get("/healthz").json
    assert after["worker"]["last_heartbeat"] is not None and 0 <= after["worker"]["age_seconds"] < 60
    assert after["instances_in_error"] == 1


def test_the_supervisor_starts_an_exited_worker_again_with_back_off(tmp_path):
    runs = tmp_path / "runs"
    # A stand-in worker that records its start and dies at once, as a crashing worker would.
    command = [sys.executable, "-c", f"open({str(runs)!r}, 'a').write('x'); raise SystemExit(3)"]
    supervisor = Supervisor(command, first_delay=0.1, max_delay=0.4).start()
    try:
        deadline = time.monotonic() + 30
        while (not runs.exists() or len(runs.read_text()) < 4) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        supervisor.stop()
    assert len(runs.read_text()) >= 4 and supervisor.restarts >= 3
    settled = len(runs.read_text())
    time.sleep(0.6)
    assert len(runs.read_text()) == settled  # stopped means stopped: no more restarts


def test_serve_with_its_worker_stops_at_once_on_sigterm(sqlite_template, tmp_path):
    """As Ctrl-C or a service manager stops `make demo`: every process of the group gets SIGTERM.
    gunicorn's workers, forked from the process that supervises the timer worker, used to stop the
    timer worker again on their way out and wait 30 s for a process that was not their child."""
    database = tmp_path / "served.sqlite3"
    shutil.copyfile(sqlite_template, database)
    server = Server(f"sqlite:///{database}", 2, "--with-worker").start()
    time.sleep(1)  # the timer worker is up
    began = time.monotonic()
    group = server.process.pid
    server.stop()
    took = time.monotonic() - began
    assert took < 10, f"stopping took {took:.0f} s"
    with pytest.raises(ProcessLookupError):  # nothing of it left running, the timer worker included
        os.killpg(group, 0)
