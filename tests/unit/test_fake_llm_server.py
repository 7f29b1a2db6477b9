"""The scripted fake LLM server speaks OpenAI's streaming wire format and does what it is told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from chat.speech.wav import wav_seconds
from tests.support.fake_llm_server import (
    SPEECH_PATH,
    STAMP_WIDTH,
    TRANSCRIPTIONS_PATH,
    FakeLLMServer,
    Hold,
    RecordedRequest,
    error_reply,
    parse_stamp,
    parse_stamps,
    stamp_token,
    stamped_or_echo_reply,
    stamped_reply,
    stamped_request,
    text_reply,
    tool_call_reply,
    transcript_reply,
)


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def _post(fake: FakeLLMServer, **extra: object) -> requests.Response:
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "hi"}], **extra}
    return requests.post(f"{fake.base_url}/chat/completions", json=body, stream=True, timeout=(2, 5))


def _events(response: requests.Response) -> Iterator[tuple[float, str]]:
    """(arrival time, data) for each SSE data line, as a client reads them."""
    for line in response.iter_lines(chunk_size=None, decode_unicode=True):
        if line.startswith("data: "):
            yield time.monotonic(), line[len("data: ") :]


def _content(data: list[str]) -> str:
    chunks = [json.loads(d) for d in data if d != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def _sent(request: RecordedRequest) -> list[str]:
    """The data of the SSE events the server recorded as written."""
    return [line[len("data: "):] for event in request.events for line in event.splitlines() if line.startswith("data: ")]


def test_text_reply_streams_openai_chunks_ending_in_done(fake: FakeLLMServer) -> None:
    fake.script(text_reply("Hel", "lo"))
    with _post(fake) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        data = [d for _, d in _events(response)]
    assert data[-1] == "[DONE]"
    assert _content(data) == "Hello"
    assert json.loads(data[0])["object"] == "chat.completion.chunk"
    assert json.loads(data[-2])["usage"]["total_tokens"] == 20


def test_the_request_body_is_recorded_for_assertions(fake: FakeLLMServer) -> None:
    fake.script(text_reply("ok"))
    with _post(fake, tools=[{"type": "function", "function": {"name": "x"}}]) as response:
        list(_events(response))
    (request,) = fake.wait_for_requests(1)
    assert request.path == "/v1/chat/completions"
    assert request.messages == [{"role": "user", "content": "hi"}]
    assert request.body["tools"][0]["function"]["name"] == "x"
    # The client can read [DONE] before the server thread records the end: wait for it, bounded.
    fake.wait_for_outcome(0, "complete")
    assert _content(_sent(request)) == "ok"
    assert _sent(request)[-1] == "[DONE]"


def test_chunks_arrive_one_after_another_with_the_scripted_delay(fake: FakeLLMServer) -> None:
    fake.script(text_reply("a", "b", "c", delay=0.15))
    with _post(fake) as response:
        arrivals = [(t, d) for t, d in _events(response)]
    content_times = [t for t, d in arrivals if d != "[DONE]" and _content([d])]
    assert len(content_times) == 3
    gaps = [later - earlier for earlier, later in zip(content_times, content_times[1:], strict=False)]
    assert all(gap >= 0.1 for gap in gaps), f"chunks were not spaced out: gaps {gaps}"


def test_tool_call_arguments_are_split_across_chunks_and_reassemble_exactly(fake: FakeLLMServer) -> None:
    fake.script(tool_call_reply("builtin__calculator", {"expression": "12*7"}, call_id="call_9", parts=3))
    with _post(fake) as response:
        chunks = [json.loads(d) for _, d in _events(response) if d != "[DONE]"]
    fragments = [
        call["function"].get("arguments", "")
        for c in chunks
        if c["choices"]
        for call in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert len([f for f in fragments if f]) == 3
    assert json.loads("".join(fragments)) == {"expression": "12*7"}
    first_call = next(
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    )
    assert (first_call["id"], first_call["function"]["name"]) == ("call_9", "builtin__calculator")
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"


def test_an_error_reply_has_the_status_openai_body_and_retry_after(fake: FakeLLMServer) -> None:
    fake.script(error_reply(429, "slow down", retry_after=2))
    with _post(fake) as response:
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "2"
        assert response.json()["error"]["message"] == "slow down"


def test_a_request_with_nothing_scripted_gets_a_400_that_says_so(fake: FakeLLMServer) -> None:
    with _post(fake) as response:
        assert response.status_code == 400
        assert "no scripted reply left for request #1" in response.json()["error"]["message"]


def test_a_hold_pauses_the_stream_until_released(fake: FakeLLMServer) -> None:
    fake.script(text_reply("before ", Hold("mid"), "after"))
    received: list[str] = []
    finished = threading.Event()

    def read() -> None:
        with _post(fake) as response:
            for _, data in _events(response):
                received.append(data)
        finished.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    fake.wait_until_held("mid", timeout=5)
    assert not finished.wait(0.2), "the stream ended although it was held"
    assert _content(received) == "before "
    fake.release("mid")
    assert finished.wait(5), f"the stream did not finish after release; got {received}"
    assert _content(received) == "before after"
    reader.join(timeout=5)


def test_a_client_that_goes_away_while_held_is_recorded_as_closed(fake: FakeLLMServer) -> None:
    fake.script(text_reply("partial ", Hold("never"), "after"))
    response = _post(fake)
    lines = response.iter_lines(decode_unicode=True)
    assert next(line for line in lines if line.startswith("data: "))
    fake.wait_until_held("never", timeout=5)
    response.close()
    (request,) = fake.requests
    assert request.outcome in ("open", "client_closed")
    fake.wait_for_outcome(0, "client_closed", timeout=5)
    assert _content(_sent(request)) == "partial ", "the stream went on past the hold"


def test_reset_forgets_scripts_and_requests(fake: FakeLLMServer) -> None:
    fake.script(text_reply("unused"))
    with _post(fake) as response:
        list(_events(response))
    fake.script(text_reply("also unused"))
    fake.reset()
    assert fake.pending() == 0
    assert fake.requests == []


def test_a_stamped_reply_sends_numbered_tokens_at_the_rate_stamped_with_their_send_time(fake: FakeLLMServer) -> None:
    fake.script(stamped_reply(5, rate=20))
    with _post(fake) as response:
        arrivals = [(time.time(), d) for _, d in _events(response) if d != "[DONE]" and _content([d])]
    tokens = [_content([d]) for _, d in arrivals]
    assert all(len(token) == STAMP_WIDTH for token in tokens)
    stamps = parse_stamps("".join(tokens))
    assert [index for index, _ in stamps] == [0, 1, 2, 3, 4]
    assert all(0 <= received - sent < 1 for (received, _), (_, sent) in zip(arrivals, stamps, strict=True))
    assert 0.15 <= stamps[-1][1] - stamps[0][1] < 1, f"not paced at 20/s: {stamps}"


def test_a_stamp_token_parses_back_exactly() -> None:
    token = stamp_token(42, 1732300000.123456)
    assert len(token) == STAMP_WIDTH
    assert parse_stamp(token) == (42, 1732300000.123456)
    assert parse_stamp(token[:-1]) is None


def test_the_standalone_server_answers_a_stamped_request_with_a_stamped_stream() -> None:
    def body(text: str) -> dict[str, object]:
        return {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": text}]}

    stamped = stamped_or_echo_reply(body(stamped_request(3, 0)))
    assert any(getattr(step, "count", None) == 3 for step in stamped.steps)
    echoed = stamped_or_echo_reply(body("hello"))
    assert "said:" in "".join(getattr(step, "text", "") for step in echoed.steps)


def test_the_transcription_endpoint_takes_a_multipart_upload_answers_the_script_and_records_it(fake: FakeLLMServer) -> None:
    fake.script_transcripts(transcript_reply("hello"), error_reply(500, "whisper crashed"))
    upload = {"file": ("clip.wav", b"RIFF-some-audio", "audio/wav")}
    first = requests.post(f"{fake.base_url}/audio/transcriptions", data={"model": "whisper-1"}, files=upload, timeout=5)
    second = requests.post(f"{fake.base_url}/audio/transcriptions", data={"model": "whisper-1"}, files=upload, timeout=5)
    third = requests.post(f"{fake.base_url}/audio/transcriptions", data={"model": "whisper-1"}, files=upload, timeout=5)

    assert (first.status_code, first.json()) == (200, {"text": "hello"})
    assert (second.status_code, second.json()["error"]["message"]) == (500, "whisper crashed")
    assert third.status_code == 400 and "no transcript scripted" in third.json()["error"]["message"]
    recorded = fake.audio(TRANSCRIPTIONS_PATH)[0]
    assert recorded.content_type.startswith("multipart/form-data")
    assert (recorded.model, recorded.file_name, recorded.file_content_type) == ("whisper-1", "clip.wav", "audio/wav")
    assert (recorded.data, recorded.byte_length) == (b"RIFF-some-audio", 15)
    assert fake.requests == []  # chat completions are counted apart


def test_the_speech_endpoint_answers_a_real_wav_and_records_the_text(fake: FakeLLMServer) -> None:
    body = {"model": "tts-1", "input": "Eighty-four.", "voice": "alloy"}
    response = requests.post(f"{fake.base_url}/audio/speech", json=body, timeout=5)

    assert (response.status_code, response.headers["Content-Type"]) == (200, "audio/wav")
    assert wav_seconds(response.content) > 0
    [recorded] = fake.wait_for_audio(SPEECH_PATH, 1)
    assert (recorded.model, recorded.fields) == ("tts-1", body)
