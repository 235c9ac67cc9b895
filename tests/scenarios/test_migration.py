"""Moving running 可研 instances to a new version: a step added, one renamed, one removed."""

from __future__ import annotations

from datetime import date

from lxml import etree

from approvals.models import Event, ProcessInstance, Task
from approvals.services import definitions, migration, users
from tests.conftest import BPMN_DIR, read_forms
from tests.scenarios.driver import Scenario
from tests.scenarios.test_feasibility_review import PREPARED, SUBMITTED

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI = "http://www.omg.org/spec/BPMN/20100524/DI"
NS = {"bpmn": BPMN, "bpmndi": DI}
RENAMED = "确定评估方式"


def version_two() -> bytes:
    """v2 of the model: 同步申请用地预审与选址意见书 removed (a missing site book goes straight on to
    报送), 登记报送材料 added after 报送, and 确定是否需评估或专家评审 renamed."""
    tree = etree.fromstring((BPMN_DIR / "feasibility_review.bpmn").read_bytes())

    def one(path: str):
        return tree.xpath(path, namespaces=NS)[0]

    def drop(path: str) -> None:
        for element in tree.xpath(path, namespaces=NS):
            element.getparent().remove(element)

    drop("//bpmn:manualTask[@id='apply_site_book'] | //bpmn:sequenceFlow[@id='f_book_applied']")
    drop("//bpmn:flowNodeRef[text()='apply_site_book']")
    drop("//bpmndi:*[@bpmnElement='apply_site_book' or @bpmnElement='f_book_applied']")
    one("//bpmn:sequenceFlow[@id='f_book_missing']").set("targetRef", "gw_ready")
    one("//bpmn:exclusiveGateway[@id='gw_ready']/bpmn:incoming[text()='f_book_applied']").text = "f_book_missing"
    process = one("//bpmn:process")
    one("//bpmn:sequenceFlow[@id='f_submitted']").set("targetRef", "register_submission")
    one("//bpmn:exclusiveGateway[@id='gw_to_acceptance']/bpmn:incoming[text()='f_submitted']").text = "f_registered"
    step = etree.SubElement(process, f"{{{BPMN}}}manualTask", id="register_submission", name="登记报送材料")
    etree.SubElement(step, f"{{{BPMN}}}incoming").text = "f_submitted"
    etree.SubElement(step, f"{{{BPMN}}}outgoing").text = "f_registered"
    etree.SubElement(
        process,
        f"{{{BPMN}}}sequenceFlow",
        id="f_registered",
        sourceRef="register_submission",
        targetRef="gw_to_acceptance",
    )
    etree.SubElement(one("//bpmn:lane[@id='Lane_HQ']"), f"{{{BPMN}}}flowNodeRef").text = "register_submission"
    one("//bpmn:userTask[@id='assess_need']").set("name", RENAMED)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def at(s: Scenario, place: str, *, via_site_book: bool = False) -> Scenario:
    """Drive a fresh instance to ``place`` (through 同步申请用地预审与选址意见书 if ``via_site_book``)."""
    s.do("prepare_report", PREPARED)
    missing = via_site_book or place == "apply_site_book"
    s.do("check_prerequisites", {"site_book_status": "not_started" if missing else "in_progress"})
    if via_site_book:
        s.do("apply_site_book")
    if place in ("acceptance_check", "assess_need"):
        s.do("submit_report", SUBMITTED)
    if place == "assess_need":
        s.do("acceptance_check", {"acceptance_decision": "accept", "acceptance_number": "受理〔2026〕1号"})
    assert [bpmn_id for bpmn_id, _ in s.open_steps()] == [place]
    return s


def _snapshot(database, ids):
    with database.session() as session:
        rows = session.query(Task).filter(Task.instance_id.in_(ids), Task.state.in_(["open", "claimed"])).all()
        return {
            row.instance_id: (row.id, row.bpmn_id, row.assignee_id, row.due_at, row.limit_workdays, row.created_at)
            for row in rows
        }


def test_twenty_instances_move_to_a_version_that_adds_renames_and_removes_steps(database):
    key, _ = definitions_publish(database, (BPMN_DIR / "feasibility_review.bpmn").read_bytes())
    places = ["apply_site_book", "submit_report", "acceptance_check", "assess_need"]
    scenarios = {
        # One of each group but the first went through the step v2 removes: its history loses it.
        place: [
            at(
                Scenario(database, key, code=f"M-{place}-{n}", on=date(2026, 9, 21)),
                place,
                via_site_book=n == 0 and place != "apply_site_book",
            )
            for n in range(5)
        ]
        for place in places
    }
    ids = {place: [s.instance_id for s in group] for place, group in scenarios.items()}
    every = sorted(i for group in ids.values() for i in group)
    with database.session() as session:  # a DRC reviewer holds the acceptance checks
        reviewer = users.get_user(session, "scenario_drc") or users.create_user(
            session, username="scenario_drc", password="pw-12345", agency_code="DRC", role="staff"
        )
        for row in session.query(Task).filter(Task.instance_id.in_(ids["acceptance_check"]), Task.state == "open"):
            row.assignee_id, row.state = reviewer.id, "claimed"
    before = _snapshot(database, every)
    assert definitions_publish(database, version_two()) == (key, 2)

    with database.session() as session:
        admin = users.get_user(session, "scenario_admin")
        dry = migration.migrate_instances(session, key, admin, from_version=1, to_version=2, dry_run=True)
    assert sorted(dry["migratable"]) == sorted(ids["submit_report"] + ids["acceptance_check"] + ids["assess_need"])
    assert dry["migrated"] == []
    assert sorted(b["instance_id"] for b in dry["blocked"]) == ids["apply_site_book"]
    assert all(
        b["reasons"] == ["apply_site_book (同步申请用地预审与选址意见书) is open and the new version removes it"]
        for b in dry["blocked"]
    )
    assert _versions(database, every) == {1}  # a dry run moves nothing
    assert _snapshot(database, every) == before

    with database.session() as session:
        admin = users.get_user(session, "scenario_admin")
        done = migration.migrate_instances(
            session, key, admin, from_version=1, to_version=2, reason="新增登记环节", commit=session.commit
        )
    assert sorted(done["migrated"]) == sorted(dry["migratable"]) and done["blocked"] == dry["blocked"]
    moved = sorted(done["migrated"])
    assert _versions(database, moved) == {2} and _versions(database, ids["apply_site_book"]) == {1}
    # The same open rows: ids, claims, due dates and clocks unchanged; only the renamed step's name follows.
    assert _snapshot(database, every) == before
    with database.session() as session:
        renamed = session.query(Task).filter(Task.instance_id.in_(ids["assess_need"]), Task.bpmn_id == "assess_need")
        assert sorted((r.instance_id, r.name) for r in renamed) == [(i, RENAMED) for i in sorted(ids["assess_need"])]
        migrated = session.query(Event).filter(Event.type == "instance.migrated").all()
        assert sorted(e.instance_id for e in migrated) == moved
        assert migrated[0].payload["reason"] == "新增登记环节" and migrated[0].actor_name == "scenario_admin"
    assert _renamed_in(database, ids["assess_need"][0]) == {"assess_need": RENAMED}

    # Moved instances run the new version: the added step comes after 报送 (also for one whose
    # history passed the removed step).
    s = scenarios["submit_report"][0]
    s.do("submit_report", SUBMITTED)
    assert s.open_steps() == [("register_submission", "HQ")]
    s.do("register_submission")
    assert s.open_steps() == [("acceptance_check", "DRC")]
    # The renamed step completes on to the decision, under v2.
    s = scenarios["assess_need"][0]
    s.do("assess_need", {"evaluation_needed": False})
    assert s.open_steps() == [("decide", "DRC")]
    # Blocked instances are untouched and run on under v1.
    s = scenarios["apply_site_book"][0]
    s.do("apply_site_book")
    assert s.open_steps() == [("submit_report", "HQ")]
    s.do("submit_report", SUBMITTED)
    assert s.open_steps() == [("acceptance_check", "DRC")]


def _renamed_in(database, instance_id):
    with database.session() as session:
        event = session.query(Event).filter(Event.type == "instance.migrated", Event.instance_id == instance_id).one()
        return event.payload["renamed"]


def _versions(database, ids) -> set[int]:
    with database.session() as session:
        return {session.get(ProcessInstance, i).definition.version for i in ids}


def definitions_publish(database, bpmn: bytes) -> tuple[str, int]:
    with database.session() as session:
        definition, _ = definitions.publish(session, bpmn, read_forms(BPMN_DIR / "feasibility_review.bpmn"), None)
        return definition.key, definition.version
