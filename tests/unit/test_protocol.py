import json

import pytest

from chat.protocol import ClientError, ConversationOpen, MessageSend, Ping, ToolConfirm, parse


def parse_frame(frame, *, max_bytes=4096, max_text_chars=100):
    raw = frame if isinstance(frame, str) else json.dumps(frame)
    return parse(raw, max_bytes=max_bytes, max_text_chars=max_text_chars)


def error_of(frame, **limits):
    with pytest.raises(ClientError) as caught:
        parse_frame(frame, **limits)
    return caught.value


def test_a_valid_message_send_is_parsed_with_its_fields():
    frame = parse_frame({"type": "message.send", "client_id": "c-1", "text": "hi", "conversation_id": 7})
    assert frame == MessageSend(type="message.send", client_id="c-1", text="hi", conversation_id=7)


def test_every_client_frame_type_is_understood():
    assert isinstance(parse_frame({"type": "ping"}), Ping)
    assert isinstance(parse_frame({"type": "conversation.open", "conversation_id": 1, "last_seq": 3}), ConversationOpen)
    assert isinstance(parse_frame({"type": "tool.confirm", "conversation_id": 1, "call_id": "a", "allow": False}), ToolConfirm)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{", "invalid_json"),
        ("null", "invalid_frame"),
        ({"text": "no type"}, "invalid_frame"),
        ({"type": "nope"}, "unknown_type"),
        ({"type": "message.send", "text": "hi"}, "invalid_frame"),
        ({"type": "message.send", "client_id": "c", "text": "   "}, "invalid_frame"),
        ({"type": "message.send", "client_id": "bad id!", "text": "hi"}, "invalid_frame"),
        ({"type": "message.send", "client_id": "c", "text": "hi", "conversation_id": "1"}, "invalid_frame"),
        ({"type": "message.send", "client_id": "c", "text": "hi", "conversation_id": 0}, "invalid_frame"),
        ({"type": "message.send", "client_id": "c", "text": "hi", "admin": True}, "invalid_frame"),
        ({"type": "conversation.open", "conversation_id": 1, "last_seq": -1}, "invalid_frame"),
        ({"type": "tool.confirm", "conversation_id": 1, "call_id": "a", "allow": "yes"}, "invalid_frame"),
        ({"type": "message.send", "client_id": "c", "text": "x" * 101}, "too_large"),
    ],
)
def test_bad_frames_are_refused_with_a_stable_code(frame, code):
    assert error_of(frame).code == code


def test_an_oversized_frame_is_refused_before_it_is_parsed():
    assert error_of("[" * 5000, max_bytes=1000).code == "too_large"


def test_deeply_nested_json_is_an_error_not_a_crash():
    assert error_of("[" * 100000 + "]" * 100000, max_bytes=10**6).code in {"invalid_json", "invalid_frame"}


def test_an_error_names_the_field_and_answers_the_client_id():
    error = error_of({"type": "message.send", "client_id": "c9"})
    assert "text" in error.message and error.client_id == "c9"
