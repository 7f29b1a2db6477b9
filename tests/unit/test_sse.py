"""The SSE parser gives the same events however the bytes are split."""

from __future__ import annotations

import pytest

from chat.llm.sse import SSEError, SSEEvent, SSEParser
from tests.support.wire import anthropic_sse, anthropic_text_events, openai_sse, openai_text_chunks


def parse_in_pieces(body: bytes, sizes: list[int] | None = None, size: int = 1) -> list[SSEEvent]:
    """Feed body in consecutive pieces of the given sizes (then `size` bytes each)."""
    parser, events, pos = SSEParser(), [], 0
    for step in sizes or []:
        events += parser.feed(body[pos : pos + step])
        pos += step
    while pos < len(body):
        events += parser.feed(body[pos : pos + size])
        pos += size
    events += parser.close()
    return events


def test_events_are_the_same_at_every_split_point_of_a_two_event_body():
    body = "event: a\ndata: héllo 👋\n\ndata: x\r\ndata: y\r\n\r\n".encode()
    expected = [SSEEvent("a", "héllo 👋"), SSEEvent("message", "x\ny")]
    for cut in range(len(body) + 1):
        assert parse_in_pieces(body, [cut], size=len(body)) == expected, f"split at byte {cut}"


def test_byte_at_a_time_splits_every_utf8_character():
    body = 'data: {"t":"日本語 — ünïcödé 🎉"}\n\n'.encode()
    assert parse_in_pieces(body, size=1) == [SSEEvent("message", '{"t":"日本語 — ünïcödé 🎉"}')]


def test_crlf_split_between_chunks_does_not_make_an_extra_blank_line():
    parser = SSEParser()
    assert parser.feed(b"data: one\r") == []
    assert parser.feed(b"\ndata: two\r") == []
    assert parser.feed(b"\n\r") == [SSEEvent("message", "one\ntwo")]
    assert parser.feed(b"\n") == []


def test_lone_cr_ends_lines():
    assert parse_in_pieces(b"data: a\rdata: b\r\r", size=3) == [SSEEvent("message", "a\nb")]


def test_comments_and_unknown_fields_are_ignored():
    body = b": keep-alive\nretry: 100\nfoo: bar\ndata: x\n\n: ping\n\n"
    assert parse_in_pieces(body, size=2) == [SSEEvent("message", "x")]


def test_field_without_space_and_without_colon():
    body = b"data:no-space\ndata\nid: 7\n\n"
    assert parse_in_pieces(body) == [SSEEvent("message", "no-space\n", id="7")]


def test_event_name_resets_after_each_event():
    body = b"event: ping\ndata: {}\n\ndata: plain\n\n"
    assert [e.event for e in parse_in_pieces(body, size=5)] == ["ping", "message"]


def test_event_without_data_is_not_dispatched():
    assert parse_in_pieces(b"event: nothing\n\ndata: x\n\n") == [SSEEvent("message", "x")]


def test_line_separator_characters_inside_data_do_not_split_lines():
    body = 'data: {"t":"a\u2028b\x0cc"}\n\n'.encode()
    assert parse_in_pieces(body, size=4) == [SSEEvent("message", '{"t":"a\u2028b\x0cc"}')]


def test_unterminated_event_is_held_until_its_blank_line_and_discarded_at_the_end():
    held = SSEParser()
    assert held.feed(b"data: [DONE]") == []
    assert held.feed(b"\n\n") == [SSEEvent("message", "[DONE]")]
    parser = SSEParser()
    assert parser.feed(b"data: [DONE]") == []
    assert parser.close() == []


def test_invalid_utf8_is_an_error():
    with pytest.raises(SSEError, match="UTF-8"):
        SSEParser().feed(b"data: \xff\xfe\n\n")


def test_stream_ending_inside_a_utf8_character_is_an_error():
    parser = SSEParser()
    parser.feed("data: é".encode()[:-1])
    with pytest.raises(SSEError, match="UTF-8"):
        parser.close()


def test_overlong_line_is_an_error():
    parser = SSEParser(max_line_chars=10)
    with pytest.raises(SSEError, match="longer than 10"):
        parser.feed(b"data: " + b"x" * 20)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_wire_bodies_of_both_families_parse_at_any_chunk_size(size):
    openai = openai_sse(openai_text_chunks(["Hé", "llo"])).encode()
    events = parse_in_pieces(openai, size=size)
    assert [e.data for e in events][-1] == "[DONE]"
    assert len(events) == 5
    anthropic = anthropic_sse(anthropic_text_events(["Grüß", " dich"])).encode()
    names = [e.event for e in parse_in_pieces(anthropic, size=size)]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert names.count("content_block_delta") == 2
