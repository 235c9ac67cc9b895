"""Four eyes: whoever completed an earlier step named by `four_eyes` may not claim or complete this one."""

from __future__ import annotations

from tests.conftest import BPMN_DIR
from tests.helpers import SUBMISSION, publish_variant

SAMPLE = (BPMN_DIR / "sample_review.bpmn").read_text()
# The water review becomes HQ's own internal check, which the submitter may not do.
CHECKED = SAMPLE.replace('<bpmn:lane id="Lane_WATER" name="WATER">', '<bpmn:lane id="Lane_WATER" name="HQ">').replace(
    '<spiffworkflow:property name="time_limit" value="15WD" />',
    '<spiffworkflow:property name="time_limit" value="15WD" />\n'
    '          <spiffworkflow:property name="four_eyes" value="submit" />',
)


def test_the_submitter_may_not_do_the_check(client, people):
    assert publish_variant(client, people, CHECKED).status_code == 201
    client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq"))
    started = client.post(
        "/api/projects/P-1/instances", json={"process_key": "sample_review"}, headers=people.auth("hq")
    ).json
    done = client.post(
        f"/api/tasks/{started['open_tasks'][0]['id']}/complete", json={"data": SUBMISSION}, headers=people.auth("hq")
    )
    check = next(t for t in done.json["open_tasks"] if t["bpmn_id"] == "review_water")
    assert check["agency"] == "HQ"

    claim = client.post(f"/api/tasks/{check['id']}/claim", headers=people.auth("hq"))
    assert claim.status_code == 403 and "four eyes" in claim.json["message"]
    complete = client.post(
        f"/api/tasks/{check['id']}/complete", json={"data": {"opinion": "agree"}}, headers=people.auth("hq")
    )
    assert complete.status_code == 403
    assign = client.post(f"/api/tasks/{check['id']}/assign", json={"username": "hq"}, headers=people.auth("hq_lead"))
    assert assign.status_code == 422 and "username" in assign.json["errors"]["json"]
    assert client.get(f"/api/tasks/{check['id']}", headers=people.auth("hq")).json["state"] == "open"

    # Another member of the agency does it.
    assert (
        client.post(
            f"/api/tasks/{check['id']}/complete", json={"data": {"opinion": "agree"}}, headers=people.auth("hq_lead")
        ).status_code
        == 200
    )


def test_four_eyes_must_name_steps_of_the_process(client, people):
    bad = CHECKED.replace('value="submit"', 'value="submit, nowhere"')
    response = publish_variant(client, people, bad)
    assert response.status_code == 422
    assert any(p["element"] == "review_water" and "nowhere" in p["message"] for p in response.json["errors"]["bpmn"])


def test_four_eyes_hold_through_delegation(client, people):
    """A claims the submission and delegates it to B, who completes it for A: neither A (it was done
    for them) nor B (who did it) may then do the check."""
    assert publish_variant(client, people, CHECKED).status_code == 201
    client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq"))
    started = client.post(
        "/api/projects/P-1/instances", json={"process_key": "sample_review"}, headers=people.auth("hq")
    ).json
    submit = started["open_tasks"][0]["id"]
    assert client.post(f"/api/tasks/{submit}/claim", headers=people.auth("hq")).status_code == 200
    delegated = client.post(f"/api/tasks/{submit}/delegate", json={"username": "hq_lead"}, headers=people.auth("hq"))
    assert delegated.status_code == 200
    done = client.post(f"/api/tasks/{submit}/complete", json={"data": SUBMISSION}, headers=people.auth("hq_lead"))
    assert done.status_code == 200
    check = next(t for t in done.json["open_tasks"] if t["bpmn_id"] == "review_water")["id"]

    for holder in ("hq", "hq_lead"):  # the one it was done for, and the delegate who did it
        response = client.post(
            f"/api/tasks/{check}/complete", json={"data": {"opinion": "agree"}}, headers=people.auth(holder)
        )
        assert response.status_code == 403 and "four eyes" in response.json["message"], holder
    assert client.get(f"/api/tasks/{check}", headers=people.auth("hq")).json["state"] == "open"
