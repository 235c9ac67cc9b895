"""Every model that publishes can run: what the service cannot drive is refused at publish, naming
the element, with a message that says why (live instances, item 4)."""

from __future__ import annotations

import pytest

from tests.conftest import BPMN_DIR
from tests.helpers import publish_variant

SAMPLE = (BPMN_DIR / "sample_review.bpmn").read_text()


def _with(element: str) -> str:
    return SAMPLE.replace("</bpmn:process>", element + "</bpmn:process>", 1)


@pytest.mark.parametrize(
    ("model", "element", "words"),
    [
        (_with('<bpmn:serviceTask id="call_out" name="外部接口" />'), "call_out", "service tasks are not supported"),
        (_with('<bpmn:sendTask id="notify" name="通知" />'), "notify", "send tasks are not supported"),
        (
            _with(
                '<bpmn:intermediateCatchEvent id="await"><bpmn:signalEventDefinition /></bpmn:intermediateCatchEvent>'
            ),
            "await",
            "waits for a signal",
        ),
        (
            _with('<bpmn:startEvent id="by_signal"><bpmn:signalEventDefinition /></bpmn:startEvent>'),
            "by_signal",
            "waits for a signal",
        ),
        (
            _with(
                '<bpmn:intermediateCatchEvent id="await" name="等待申请人"><bpmn:extensionElements>'
                "<spiffworkflow:formJsonSchemaFilename>sample_submit.schema.json</spiffworkflow:formJsonSchemaFilename>"
                '</bpmn:extensionElements><bpmn:messageEventDefinition messageRef="m" /></bpmn:intermediateCatchEvent>'
            ),
            "await",
            "keeps the message in no variable",
        ),
        (
            _with(
                '<bpmn:receiveTask id="await" name="等待缴费"><bpmn:extensionElements>'
                "<spiffworkflow:formJsonSchemaFilename>fee.schema.json</spiffworkflow:formJsonSchemaFilename>"
                "<spiffworkflow:messageVariable>fee</spiffworkflow:messageVariable>"
                "</bpmn:extensionElements></bpmn:receiveTask>"
            ),
            "await",
            "uses form 'fee.schema.json', which was not provided",
        ),
        (_with('<bpmn:task id="plain" name="人工核对" />'), "plain", "is not in a lane"),
        (
            SAMPLE.replace('decision == "approve"', '${decision == "approve"}', 1),
            "flow_approve",
            "expressions are Python, not JUEL",
        ),
    ],
)
def test_what_the_service_cannot_drive_is_refused_naming_the_element(client, people, model, element, words):
    response = publish_variant(client, people, model)
    assert response.status_code == 422, response.json
    assert any(p["element"] == element and words in p["message"] for p in response.json["errors"]["bpmn"]), (
        response.json
    )


def test_a_model_meant_only_for_drawing_is_refused_saying_so(client, people):
    response = publish_variant(client, people, SAMPLE.replace('isExecutable="true"', 'isExecutable="false"'))
    assert response.status_code == 422
    assert 'isExecutable="false"' in response.json["errors"]["bpmn"][0]["message"]


def test_an_engine_error_of_any_kind_stops_the_instance_not_the_request(client, people):
    """A parallel multi-instance over a collection the data lacks makes SpiffWorkflow raise a plain
    TypeError: the instance goes to error naming the failure, the request answers normally."""
    at = SAMPLE.index('<bpmn:userTask id="review_planning"')
    end = SAMPLE.index("</bpmn:userTask>", at)
    loop = (
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>parcels</bpmn:loopDataInputRef>"
        '<bpmn:inputDataItem id="parcel" name="parcel"/></bpmn:multiInstanceLoopCharacteristics>'
    )
    looped = SAMPLE[:end] + loop + SAMPLE[end:]
    response = publish_variant(client, people, looped)
    assert response.status_code == 201, response.json
    client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq"))
    started = client.post(
        "/api/projects/P-1/instances", json={"process_key": "sample_review"}, headers=people.auth("hq")
    )
    assert started.status_code == 201
    submitted = client.post(
        f"/api/tasks/{started.json['open_tasks'][0]['id']}/complete",
        json={"data": {"application_title": "x", "estimated_investment": 1}},
        headers=people.auth("hq"),
    )
    assert submitted.status_code == 200, submitted.json
    assert submitted.json["status"] == "error"
    instance = client.get(f"/api/instances/{submitted.json['instance_id']}", headers=people.auth("hq")).json
    assert instance["error"]["message"]


def test_an_engine_failure_opens_an_incident_that_owners_can_read(client, people):
    test_an_engine_error_of_any_kind_stops_the_instance_not_the_request(client, people)
    listed = client.get("/api/incidents?status=open&process=sample_review", headers=people.auth("owner"))
    assert listed.status_code == 200
    (incident,) = listed.json
    assert incident["project"] == "P-1" and incident["status"] == "open" and incident["attempts"] == 1
    assert incident["kind"] == "engine" and "TypeError" in incident["message"]
    one = client.get(f"/api/incidents/{incident['id']}", headers=people.auth("admin")).json
    assert one == incident
    assert client.get("/api/incidents", headers=people.auth("hq")).status_code == 403
    assert client.get("/api/incidents?project=OTHER", headers=people.auth("owner")).json == []
    assert client.get("/healthz").json["open_incidents"] == 1


def test_check_and_publish_name_a_stray_task(client, people):
    stray = (
        (BPMN_DIR / "sample_review.bpmn")
        .read_text()
        .replace("</bpmn:process>", '<bpmn:userTask id="stray" name="多余的任务" /></bpmn:process>')
    )
    refused = publish_variant(client, people, stray)
    assert refused.status_code == 422
    assert {"element": "stray", "message": "userTask 'stray' (多余的任务) is not connected: no flow leads to it"} in (
        refused.json["errors"]["bpmn"]
    )
