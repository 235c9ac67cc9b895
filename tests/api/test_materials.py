"""Materials: uploads checked by content and size, stored by SHA-256, required by forms, read by the right agencies."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from approvals.demo import sample_pdf
from approvals.models import Event, Material
from approvals.services import users
from tests.conftest import BPMN_DIR, PASSWORD, read_forms
from tests.helpers import SUBMISSION, complete, create_project, open_task, start_sample, statements_sent

PDF = sample_pdf("feasibility report")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 200  # a Linux executable
EXE = b"MZ\x90\x00\x03" + b"\x00" * 200  # a Windows executable
DXF = b"  0\nSECTION\n  2\nHEADER\n  0\nENDSEC\n  0\nEOF\n"


def with_required_report(forms: dict[str, bytes]) -> dict[str, bytes]:
    """The sample model's submission form, asking for the application as a PDF."""
    schema = json.loads(forms["sample_submit.schema.json"])
    schema["properties"]["report"] = {
        "type": "array",
        "items": {"type": "integer"},
        "title": "申请报告",
        "x-material": {"types": ["pdf"]},
    }
    schema["properties"]["drawings"] = {
        "type": "array",
        "items": {"type": "integer"},
        "title": "图纸",
        "x-material": {"types": ["drawing", "image"]},
    }
    schema["required"].append("report")
    return {**forms, "sample_submit.schema.json": json.dumps(schema).encode()}


@pytest.fixture
def submit_step(client, people, database):
    from approvals.services import definitions

    path = BPMN_DIR / "sample_review.bpmn"
    with database.session() as session:
        definitions.publish(session, path.read_bytes(), with_required_report(read_forms(path)), None)
    create_project(client, people)
    return start_sample(client, people)["open_tasks"][0]


def upload(client, people, user, task_id, content, name, **form):
    return client.post(
        f"/api/tasks/{task_id}/materials", data={"file": (io.BytesIO(content), name), **form}, headers=people.auth(user)
    )


def stored_files(data_dir):
    root = data_dir / "materials"
    return sorted(p.name for p in root.glob("??/*")) if root.exists() else []


def counts(database):
    with database.session() as session:
        return session.query(Material).count(), session.query(Event).filter(Event.type == "material.uploaded").count()


def test_upload_is_stored_by_content_and_listed(client, people, submit_step, data_dir):
    response = upload(client, people, "hq", submit_step["id"], PDF, "可研报告.pdf", field="report")
    assert response.status_code == 201, response.json
    material = response.json
    digest = hashlib.sha256(PDF).hexdigest()
    assert (material["name"], material["size"], material["sha256"]) == ("可研报告.pdf", len(PDF), digest)
    assert (material["content_type"], material["kind"], material["uploaded_by"]) == ("application/pdf", "pdf", "hq")
    assert (data_dir / "materials" / digest[:2] / digest).read_bytes() == PDF
    # The same content again is stored once.
    assert upload(client, people, "hq", submit_step["id"], PDF, "副本.pdf").status_code == 201
    assert stored_files(data_dir) == [digest]
    listed = client.get(f"/api/instances/{submit_step['instance_id']}/materials", headers=people.auth("hq")).json
    assert [m["name"] for m in listed] == ["可研报告.pdf", "副本.pdf"]


def test_required_material_blocks_completion_until_attached(client, people, submit_step, database):
    tid = submit_step["id"]
    refused = complete(client, people, "hq", tid, SUBMISSION)
    assert refused.status_code == 422
    assert refused.json["errors"]["json"]["data"] == {"report": ["attach 申请报告 (pdf) first"]}
    first = upload(client, people, "hq", tid, PDF, "report.pdf", field="report").json
    done = complete(client, people, "hq", tid, SUBMISSION)
    assert done.status_code == 200, done.json
    # The step's data names the files; every later step sees them.
    review = open_task(client, people, "pnr", "review_planning")
    detail = client.get(f"/api/tasks/{review['id']}", headers=people.auth("pnr")).json
    assert detail["data"]["report"] == [first["id"]]
    assert [(m["id"], m["step"]) for m in detail["materials"]] == [(first["id"], "提交申请材料")]
    download = client.get(first["url"], headers=people.auth("pnr"))
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]
    download.close()


def test_withdrawn_material_no_longer_counts(client, people, submit_step):
    tid = submit_step["id"]
    material = upload(client, people, "hq", tid, PDF, "report.pdf", field="report").json
    withdrawn = client.delete(material["url"], headers=people.auth("hq"))
    assert withdrawn.status_code == 200 and withdrawn.json["withdrawn_at"] is not None
    assert complete(client, people, "hq", tid, SUBMISSION).status_code == 422
    assert client.get(f"/api/instances/{submit_step['instance_id']}/materials", headers=people.auth("hq")).json == []


@pytest.mark.parametrize(
    ("content", "name", "why"),
    [
        (ELF, "report.pdf", "not an allowed type"),  # an executable renamed .pdf
        (EXE, "drawing.dwg", "not an allowed type"),
        (PDF, "plan.dwg", "the content is PDF, but the name says .dwg"),
        (PDF, "report", "the content is PDF, but the name says no type"),
        (b"<html><script>alert(1)</script></html>", "page.pdf", "not an allowed type"),
    ],
)
def test_forged_or_unknown_types_are_refused_and_nothing_is_kept(
    client, people, submit_step, database, data_dir, content, name, why
):
    response = upload(client, people, "hq", submit_step["id"], content, name)
    assert response.status_code == 415, response.json
    assert why in response.json["message"] and name in response.json["message"]
    assert counts(database) == (0, 0)
    assert stored_files(data_dir) == [] and not any((data_dir / "materials" / "incoming").iterdir())


def test_a_field_takes_only_its_types(client, people, submit_step):
    tid = submit_step["id"]
    wrong = upload(client, people, "hq", tid, PNG, "scan.png", field="report")
    assert wrong.status_code == 415 and "field 'report' takes pdf" in wrong.json["message"]
    assert upload(client, people, "hq", tid, PNG, "scan.png", field="drawings").status_code == 201
    assert upload(client, people, "hq", tid, DXF, "site.dxf", field="drawings").json["kind"] == "dxf"
    unknown = upload(client, people, "hq", tid, PDF, "a.pdf", field="nonsense")
    assert unknown.status_code == 422 and "field" in unknown.json["errors"]["form"]


def test_size_limits_per_file_and_per_step(database_url, database, people, submit_step, data_dir):
    from approvals.app import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(data_dir),
            "TESTING": True,
            "MAX_MATERIAL_BYTES": 4096,
            "MAX_TASK_MATERIAL_BYTES": 6000,
        }
    )
    client = app.test_client()
    try:
        big = PDF + b"%" * 5000
        too_big = upload(client, people, "hq", submit_step["id"], big, "big.pdf")
        assert too_big.status_code == 413 and "at most 4096 bytes" in too_big.json["message"]
        assert counts(database) == (0, 0) and stored_files(data_dir) == []
        three_k = PDF + b"%" * (3000 - len(PDF))
        assert upload(client, people, "hq", submit_step["id"], three_k, "a.pdf").status_code == 201
        second = upload(client, people, "hq", submit_step["id"], three_k + b" ", "b.pdf")
        assert second.status_code == 413 and "step's materials would exceed 6000 bytes" in second.json["message"]
        assert counts(database) == (1, 1)
        huge = client.post(
            f"/api/tasks/{submit_step['id']}/materials",
            data={"file": (io.BytesIO(b"%PDF" + b"0" * 200_000), "huge.pdf")},
            headers=people.auth("hq"),
        )
        assert huge.status_code == 413  # refused by the request limit before it is read
        assert counts(database) == (1, 1)
    finally:
        app.extensions["approvals_db"].dispose()


def test_a_projects_materials_are_those_of_its_instances_the_agency_takes_part_in(client, people, app, sample):
    """WATER reads the files of the instances it has a step in, not of the one it has none in yet,
    and asking costs the same statements however many instances the project has."""
    create_project(client, people)
    engine = app.extensions["approvals_db"].engine

    def instance_with_file(name, submitted):
        step = start_sample(client, people)["open_tasks"][0]
        assert upload(client, people, "hq", step["id"], PDF, name).status_code == 201
        if submitted:  # the reviews open, WATER's among them
            assert complete(client, people, "hq", step["id"], SUBMISSION).status_code == 200

    def water_reads():
        with statements_sent(engine) as sent:
            answer = client.get("/api/projects/P-001/materials", headers=people.auth("water"))
        assert answer.status_code == 200
        return sorted(m["name"] for m in answer.json), len(sent)

    instance_with_file("a.pdf", submitted=True)
    names, first_count = water_reads()
    assert names == ["a.pdf"]
    instance_with_file("b.pdf", submitted=True)
    instance_with_file("c.pdf", submitted=False)
    for _ in range(3):
        instance_with_file("d.pdf", submitted=True)
    names, count = water_reads()
    assert names == ["a.pdf", "b.pdf", "d.pdf", "d.pdf", "d.pdf"]
    assert count == first_count
    everything = client.get("/api/projects/P-001/materials", headers=people.auth("observer")).json
    assert sorted(m["name"] for m in everything) == ["a.pdf", "b.pdf", "c.pdf", "d.pdf", "d.pdf", "d.pdf"]


def test_only_agencies_of_the_process_read_its_materials(client, people, submit_step, database):
    with database.session() as session:
        fire = users.create_user(session, username="fire", password=PASSWORD, agency_code="FIRE", role="staff")
        outsider = {"Authorization": f"Bearer {users.issue_token(session, fire, 1)[0]}"}
    material = upload(client, people, "hq", submit_step["id"], PDF, "r.pdf", field="report").json
    instance = submit_step["instance_id"]
    # PNR has no step yet: it may not read; once its review is open, it may.
    assert client.get(material["url"], headers=people.auth("pnr")).status_code == 403
    assert complete(client, people, "hq", submit_step["id"], SUBMISSION).status_code == 200
    allowed = client.get(material["url"], headers=people.auth("pnr"))
    assert allowed.status_code == 200
    allowed.close()
    for headers in (outsider,):
        assert client.get(material["url"], headers=headers).status_code == 403
        assert client.get(f"/api/instances/{instance}/materials", headers=headers).status_code == 403
        assert client.get("/api/projects/P-001/materials", headers=headers).json == []
    assert client.get(material["url"]).status_code == 401
    assert client.get("/api/materials/99999", headers=people.auth("hq")).status_code == 404
    observer = client.get(material["url"], headers=people.auth("observer"))
    assert observer.status_code == 200
    observer.close()


def test_uploads_follow_the_steps_rights(client, people, submit_step):
    tid = submit_step["id"]
    assert upload(client, people, "pnr", tid, PDF, "x.pdf").status_code == 403  # another agency's step
    assert upload(client, people, "observer", tid, PDF, "x.pdf").status_code == 403
    assert client.post(f"/api/tasks/{tid}/materials", headers=people.auth("hq")).status_code == 422  # no file
    upload(client, people, "hq", tid, PDF, "r.pdf", field="report")
    assert complete(client, people, "hq", tid, SUBMISSION).status_code == 200
    late = upload(client, people, "hq", tid, PDF, "late.pdf")
    assert late.status_code == 409 and "completed" in late.json["message"]


def test_issued_document_keeps_its_number(client, people, sample):
    create_project(client, people)
    instance = start_sample(client, people)
    assert complete(client, people, "hq", instance["open_tasks"][0]["id"], SUBMISSION).status_code == 200
    for user, step in (("pnr", "review_planning"), ("water", "review_water")):
        assert (
            complete(
                client, people, user, open_task(client, people, user, step)["id"], {"opinion": "agree"}
            ).status_code
            == 200
        )
    decide = open_task(client, people, "drc", "decide")
    issued = upload(client, people, "drc", decide["id"], PDF, "批复.pdf", document_number="深发改〔2026〕12号")
    assert issued.status_code == 201 and issued.json["document_number"] == "深发改〔2026〕12号"
    events = client.get(f"/api/instances/{instance['id']}/events", headers=people.auth("drc")).json
    uploaded = [e for e in events if e["type"] == "material.uploaded"]
    assert uploaded[0]["actor"] == "drc" and uploaded[0]["payload"]["document_number"] == "深发改〔2026〕12号"


@pytest.mark.parametrize(
    ("prop", "why"),
    [
        ({"type": "string", "x-material": {}}, "an array of integers"),
        ({"type": "array", "items": {"type": "integer"}, "x-material": {"types": ["exe"]}}, "unknown material types"),
        ({"type": "array", "items": {"type": "integer"}, "x-material": "pdf"}, "must be an object"),
    ],
)
def test_a_malformed_material_field_is_refused_on_publish(client, people, prop, why):
    from tests.helpers import post_files

    path = BPMN_DIR / "sample_review.bpmn"
    forms = read_forms(path)
    schema = json.loads(forms["sample_submit.schema.json"])
    schema["properties"]["report"] = prop
    forms["sample_submit.schema.json"] = json.dumps(schema).encode()
    response = post_files(
        client, people, "owner", [("bpmn", path.name, path.read_bytes())] + [("forms", n, b) for n, b in forms.items()]
    )
    assert response.status_code == 422
    (problem,) = response.json["errors"]["bpmn"]
    assert problem["element"] == "form:sample_submit.schema.json" and why in problem["message"]
    assert client.get("/api/process-definitions", headers=people.auth("owner")).json == []
