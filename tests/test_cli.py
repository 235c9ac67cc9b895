"""The command line, and a real `approvals serve` that is stopped and started again."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import requests
from click.testing import CliRunner

from approvals.cli import main
from approvals.services import definitions
from tests.helpers import SUBMISSION
from tests.processes import Server, serving


def run(url: str, *args: str):
    result = CliRunner().invoke(main, ["--database-url", url, *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_init_deploy_users_and_tokens(database_url, database):
    code, out = run(database_url, "init-db")
    assert code == 0 and "12 agencies" in out
    code, out = run(database_url, "deploy", "bpmn/*.bpmn", "bpmn/*.dmn")
    assert code == 0 and "sample_review version 1 published" in out
    assert "project_lifecycle version 1 published" in out and "tender_thresholds version 1 published" in out
    code, out = run(database_url, "deploy", "bpmn/sample_review.bpmn")
    assert code == 0 and "version 1 unchanged" in out
    # The bundled models carry their test cases (workflows/tests/<key>/), which passed to publish:
    # every outcome branch, approve, 补正, refuse, expert revision, re-tender and extension.
    with database.session() as session:
        names = {
            key: sorted(case["name"] for case in definitions.latest(session, key).tests)
            for key in ("feasibility_review", "tendering", "groundbreaking")
        }
    assert "一次性告知补正后受理" in names["feasibility_review"] and len(names["feasibility_review"]) == 6
    assert "投标人不足3家，重新招标" in names["tendering"] and "两次延期后施工许可证失效" in names["groundbreaking"]
    code, out = run(
        database_url, "create-user", "--username", "li", "--password", "pw-1234", "--agency", "DRC", "--role", "staff"
    )
    assert code == 0
    code, out = run(
        database_url, "create-user", "--username", "li", "--password", "pw-1234", "--agency", "NOPE", "--role", "staff"
    )
    assert code == 1 and "agency" in out
    code, token = run(database_url, "token", "--username", "li")
    assert code == 0 and len(token.strip()) >= 40
    assert run(database_url, "token", "--username", "ghost")[0] == 1


def test_deploy_without_the_decision_table_refuses_its_caller(database_url, database):
    code, out = run(database_url, "deploy", "bpmn/tendering.bpmn")
    assert code == 1 and "check_threshold" in out and "tender_thresholds" in out


def test_deploy_reports_a_refused_model_and_fails(database_url, database, tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_text(Path("bpmn/sample_review.bpmn").read_text().replace('name="WATER"', 'name="NOWHERE"'))
    code, out = run(database_url, "deploy", str(bad))
    assert code == 1 and "review_water" in out and "NOWHERE" in out


def test_seed_demo_is_idempotent(database_url, database):
    code, out = run(database_url, "seed-demo")
    assert code == 0 and "SZ-FCC" in out
    code, out = run(database_url, "seed-demo")
    assert code == 0 and "project SZ-FCC exists" in out


def http(method: str, url: str, **kwargs) -> requests.Response:
    return requests.request(method, url, timeout=30, **kwargs)


def test_served_instances_survive_a_server_restart(database_url, database):
    run(database_url, "deploy", "bpmn/sample_review.bpmn")
    for name, agency in (("hq1", "HQ"), ("pnr1", "PNR"), ("water1", "WATER"), ("drc1", "DRC")):
        run(
            database_url,
            "create-user",
            "--username",
            name,
            "--password",
            "pw-1234",
            "--agency",
            agency,
            "--role",
            "staff",
        )
    auth = {
        name: {"Authorization": "Bearer " + run(database_url, "token", "--username", name)[1].strip()}
        for name in ("hq1", "pnr1", "water1", "drc1")
    }

    with serving(database_url) as base:
        assert (
            http(
                "POST", base + "/api/projects", json={"code": "R-1", "name": "重启测试"}, headers=auth["hq1"]
            ).status_code
            == 201
        )
        instance = http(
            "POST", base + "/api/projects/R-1/instances", json={"process_key": "sample_review"}, headers=auth["hq1"]
        ).json()
        submit = instance["open_tasks"][0]["id"]
        assert (
            http(
                "POST", f"{base}/api/tasks/{submit}/complete", json={"data": SUBMISSION}, headers=auth["hq1"]
            ).status_code
            == 200
        )

    with serving(database_url) as base:
        state = http("GET", f"{base}/api/instances/{instance['id']}", headers=auth["hq1"]).json()
        assert sorted(t["bpmn_id"] for t in state["open_tasks"]) == ["review_planning", "review_water"]
        for task in state["open_tasks"]:
            user = "pnr1" if task["agency"] == "PNR" else "water1"
            assert (
                http(
                    "POST",
                    f"{base}/api/tasks/{task['id']}/complete",
                    json={"data": {"opinion": "agree"}},
                    headers=auth[user],
                ).status_code
                == 200
            )
        decide = http("GET", base + "/api/tasks", headers=auth["drc1"]).json()["items"][0]
        done = http(
            "POST",
            f"{base}/api/tasks/{decide['id']}/complete",
            json={"data": {"decision": "approve", "approval_number": "深发改〔2026〕8号"}},
            headers=auth["drc1"],
        )
        assert done.json()["status"] == "completed"


def test_serve_closes_each_connection_after_its_answer_unless_told_to_keep_it(sqlite_template, tmp_path):
    """A kept-alive connection stays with the worker that accepted it: under load a few workers
    served every client while the others idled. Closed, each request goes to a worker free to take it."""
    database = tmp_path / "served.sqlite3"
    shutil.copyfile(sqlite_template, database)
    for options, kept in (((), False), (("--keep-alive", "5"), True)):
        server = Server(f"sqlite:///{database}", 2, *options).start()
        try:
            with requests.Session() as client:  # a client that would keep its connection
                answers = [client.get(server.base + "/healthz", timeout=30) for _ in range(3)]
        finally:
            server.stop()
        assert [a.status_code for a in answers] == [200] * 3
        assert [a.headers.get("Connection", "").lower() == "close" for a in answers] == [not kept] * 3


def test_calendar_load_and_show(database_url, database, tmp_path):
    good = tmp_path / "2027.toml"
    good.write_text('year = 2027\nsource = "通知"\nrest_days = ["2027-01-01"]\nwork_days = []\n')
    code, out = run(database_url, "calendar", "show", "2027")
    assert code == 0 and "provisional" in out
    code, out = run(database_url, "calendar", "load", str(good))
    assert code == 0 and "2027: 1 rest days" in out
    code, out = run(database_url, "calendar", "show", "2027")
    assert "provisional" not in out and "2027-01-01" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('year = 2027\nwork_days = ["2027-01-04"]\n')
    code, out = run(database_url, "calendar", "load", str(bad))
    assert code == 1 and "work_days" in out


def test_worker_once_fires_nothing_on_an_empty_database(database_url, database):
    threshold = gc.get_threshold()
    code, out = run(database_url, "worker", "--once")
    assert code == 0 and out == ""
    # A single pass (cron, an embedding program) leaves the caller's garbage collector as it was:
    # only a process that keeps running is tuned (approvals/process_tuning.py).
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == 0


def test_status_prints_open_and_finished_steps(database_url, database):
    run(database_url, "seed-demo")
    code, out = run(database_url, "status", "SZ-IEC")
    assert code == 0
    assert "SZ-IEC 深圳国际交流中心" in out and "of 85 committed working days used" in out
    assert "开标" in out and "TRADING" in out  # open bid openings, one per package over the threshold
    assert "审批决定并出具批复" in out and "approve" in out  # the finished feasibility decision
    code, out = run(database_url, "status", "NOPE")
    assert code == 1 and "not found" in out


def test_calendar_load_takes_the_notice_and_prints_what_moved(database_url, database, people, sample):
    """The notice as published loads from the command line; each open due date it moves is printed."""
    from datetime import UTC, datetime

    import time_machine

    from tests.factories import complete, start
    from tests.helpers import SUBMISSION

    with time_machine.travel(datetime(2026, 12, 21, 2, 0, tzinfo=UTC), tick=False), database.session() as session:
        _, (submit,) = start(session, "sample_review", "C-1")
        complete(session, submit, SUBMISSION, "hq")
    notice = Path(__file__).parent / "data" / "notice_2027_for_tests.txt"
    code, out = run(database_url, "calendar", "load", str(notice))
    assert code == 0 and "2027:" in out
    assert "C-1 review_water (WATER): due 2027-01-11 -> 2027-01-12" in out
    assert "C-1 review_planning (PNR): due 2027-01-18 -> 2027-01-19" in out
