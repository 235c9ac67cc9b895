"""Every model that publishes can run: what the service cannot drive is refused at publish, naming
the element, with a message that says why (live instances, item 4)."""

from __future__ import annotations

import pytest

from tests.conftest import BPMN_DIR, read_forms
from tests.helpers import post_files

SAMPLE = (BPMN_DIR / "sample_review.bpmn").read_text()


def publish(client, people, text: str):
    forms = read_forms(BPMN_DIR / "sample_review.bpmn")
    files = [("bpmn", "m.bpmn", text.encode())] + [("forms", n, b) for n, b in forms.items()]
    return post_files(client, people, "owner", files)


def _with(element: str) -> str:
    return SAMPLE.replace("</bpmn:process>", element + "</bpmn:process>", 1)


@pytest.mark.parametrize(
    ("model", "element", "words"),
    [
        (_with('<bpmn:serviceTask id="call_out" name="外部接口" />'), "call_out", "service tasks are not supported"),
        (_with('<bpmn:sendTask id="notify" name="通知" />'), "notify", "send tasks are not supported"),
        (_with('<bpmn:receiveTask id="await" name="等待" />'), "await", "receive tasks are not supported"),
        (
            _with('<bpmn:startEvent id="by_mail"><bpmn:messageEventDefinition /></bpmn:startEvent>'),
            "by_mail",
            "waits for a message",
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
    response = publish(client, people, model)
    assert response.status_code == 422, response.json
    assert any(p["element"] == element and words in p["message"] for p in response.json["errors"]["bpmn"]), (
        response.json
    )


def test_a_model_meant_only_for_drawing_is_refused_saying_so(client, people):
    response = publish(client, people, SAMPLE.replace('isExecutable="true"', 'isExecutable="false"'))
    assert response.status_code == 422
    assert 'isExecutable="false"' in response.json["errors"]["bpmn"][0]["message"]
