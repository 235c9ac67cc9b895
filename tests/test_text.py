"""Messages for people keep their template and values, stored and read back, nested ones too."""

from __future__ import annotations

import json

from approvals.text import Message, msg


def test_a_message_is_its_english_text_and_keeps_what_it_was_made_of():
    said = msg("“{name}” is {state}", name="开标", state=msg("completed"))
    assert said == "“开标” is completed" and json.dumps(said) == '"\\u201c\\u5f00\\u6807\\u201d is completed"'
    again = Message.from_json(json.loads(json.dumps(said.as_json())))
    assert again == said and again.template == said.template
    assert isinstance(again.values["state"], Message) and again.values["state"].template == "completed"


def test_a_stored_message_that_does_not_fit_its_template_is_not_read():
    assert Message.from_json({"template": "{missing} here", "values": {"other": "x"}}) is None
    assert Message.from_json("just text") is None and Message.from_json({"values": {}}) is None
