"""/healthz shows the timer workers' heartbeat and the instances stopped in error; the supervisor
of `serve --with-worker` starts a worker that exits again, with back-off."""

from __future__ import annotations

import sys
import time

from click.testing import CliRunner

from approvals.cli import main
from approvals.supervise import Supervisor
from tests.factories import start


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
