"""A scripted OpenAI-compatible LLM server on a loopback port, for tests that cross a process.

It speaks the real wire format at the real path (`POST /v1/chat/completions`, `stream: true`,
chunked `text/event-stream` of `data:` chunks ending in `data: [DONE]`, built by
`tests.support.wire`), answers each request with the next scripted reply, and records every
request so a test can assert on what the site sent.

    with FakeLLMServer() as fake:
        fake.script(tool_call_reply("builtin__calculator", {"expression": "12*7"}), text_reply("It is ", "84."))
        ...  # point LLM_PROVIDERS at fake.base_url, drive the site
        assert fake.requests[1].body["messages"][-1]["role"] == "tool"

Replies are built from steps: text chunks, tool calls with their arguments split across chunks,
pauses between chunks, a `Hold` that waits until the test calls `release(name)`, HTTP errors, and
`Stamped`: numbered tokens paced at a fixed rate, each carrying the wall-clock time it was sent, so a
client on the same machine can measure the delay each token picked up on the way (bench/relay.py).
Run it alone with `python -m tests.support.fake_llm_server --port 8001` (answers with an echo, or with
a stamped stream to a message written by `stamped_request`).

It also speaks OpenAI's audio endpoints, in their wire formats: `POST /v1/audio/transcriptions`
(multipart/form-data with `file` and `model`; answered `{"text": ...}` from `script_transcripts`, or an
error) and `POST /v1/audio/speech` (JSON `model`, `input`, `voice`; answered with a short real WAV).
Both record what they received in `audio_requests` (content type, byte length, model, the bytes).
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import math
import re
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import wire

DEFAULT_MODEL = "fake-model"
# A held or paused stream gives up after this long, so a forgotten release never hangs a run.
MAX_WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.02


# --- script steps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """Wait this long before the next chunk (the client sees tokens arrive one after another)."""

    seconds: float


@dataclass(frozen=True)
class Hold:
    """Stop sending until the test calls `release(name)` (or the client goes away)."""

    name: str


@dataclass(frozen=True)
class Frame:
    """One raw SSE frame, sent as is (a wire-format chunk, `[DONE]`, or deliberate garbage); bytes may be any
    piece of a body, even one cut inside a UTF-8 character."""

    text: str | bytes


@dataclass(frozen=True)
class Stamped:
    """`count` content chunks, one every `interval` seconds on a fixed schedule (0: all at once).

    Each chunk is one `stamp_token`, built when it is written. Its frames are not kept in
    `RecordedRequest.events` (a load test sends thousands).
    """

    count: int
    interval: float = 0.0
    model: str = DEFAULT_MODEL


Step = Pause | Hold | Frame | Stamped

# --- stamped tokens -----------------------------------------------------------------------------

# "⟦00042@1732300000.123456⟧": index, then time.time() when sent; fixed width so a client can
# find token k at k * STAMP_WIDTH of the text it rebuilt.
STAMP_WIDTH = 25
_STAMP = re.compile(r"⟦(\d{5})@(\d{10}\.\d{6})⟧")
_STAMPED_REQUEST = re.compile(r"^stamped (\d{1,5}) tokens at (\d+(?:\.\d+)?)/s$")


def stamp_token(index: int, sent_at: float) -> str:
    """The text of token `index` sent at `sent_at` (seconds since the epoch)."""
    return f"⟦{index:05d}@{sent_at:017.6f}⟧"


def parse_stamps(text: str) -> list[tuple[int, float]]:
    """(index, sent time) of every whole stamp token in `text`, in the order they appear."""
    return [(int(m.group(1)), float(m.group(2))) for m in _STAMP.finditer(text)]


def parse_stamp(token: str) -> tuple[int, float] | None:
    """(index, sent time) if `token` is exactly one stamp token."""
    m = _STAMP.fullmatch(token)
    return (int(m.group(1)), float(m.group(2))) if m else None


def stamped_request(count: int, rate: float) -> str:
    """The user message that asks the standalone server for `stamped_reply(count, rate)`."""
    return f"stamped {count} tokens at {rate:g}/s"


@dataclass(frozen=True)
class Reply:
    """What one request gets: a stream of steps, or (status != 200) an error body."""

    steps: tuple[Step, ...] = ()
    status: int = 200
    error_body: dict[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()


def _frames(chunks: Iterable[dict[str, Any]], done: bool = False) -> list[Frame]:
    return [Frame(text) for text in wire.openai_sse_frames(chunks, done=done)]


def _paced(frames: list[Frame], delay: float) -> list[Step]:
    steps: list[Step] = []
    for frame in frames:
        if delay and steps:
            steps.append(Pause(delay))
        steps.append(frame)
    return steps


def text_reply(
    *items: str | Pause | Hold,
    delay: float = 0.0,
    model: str = DEFAULT_MODEL,
    usage: tuple[int, int] | None = (12, 8),
    done: bool = True,
) -> Reply:
    """A streamed text reply: each string is one content chunk, `delay` seconds apart.

    Pause and Hold items may sit between the strings; done=False ends without `[DONE]`.
    """
    steps: list[Step] = [*_frames([wire.openai_chunk({"role": "assistant", "content": ""}, model=model)])]
    for item in items:
        if isinstance(item, str):
            if delay:
                steps.append(Pause(delay))
            steps += _frames([wire.openai_chunk({"content": item}, model=model)])
        else:
            steps.append(item)
    tail = [wire.openai_chunk({}, finish_reason="stop", model=model)]
    if usage is not None:
        tail.append(wire.openai_usage_chunk(*usage, model=model))
    steps += _frames(tail, done=done)
    return Reply(tuple(steps))


def stamped_reply(count: int, rate: float, *, model: str = DEFAULT_MODEL) -> Reply:
    """A text reply of `count` stamp tokens at `rate` tokens per second (0: as fast as possible)."""
    steps: list[Step] = [*_frames([wire.openai_chunk({"role": "assistant", "content": ""}, model=model)])]
    steps.append(Stamped(count, 1.0 / rate if rate > 0 else 0.0, model))
    tail = [wire.openai_chunk({}, finish_reason="stop", model=model), wire.openai_usage_chunk(12, count, model=model)]
    return Reply((*steps, *_frames(tail, done=True)))


def split_json(arguments: dict[str, Any], parts: int) -> list[str]:
    """The JSON text of `arguments` cut into `parts` fragments, the way providers stream it."""
    text = json.dumps(arguments)
    size = max(1, -(-len(text) // max(1, parts)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def tool_call_reply(
    name: str,
    arguments: dict[str, Any],
    *,
    call_id: str = "call_1",
    parts: int = 3,
    delay: float = 0.0,
    model: str = DEFAULT_MODEL,
    usage: tuple[int, int] | None = (20, 10),
) -> Reply:
    """A streamed tool call whose arguments arrive split across `parts` chunks."""
    chunks = wire.openai_tool_call_chunks(call_id, name, split_json(arguments, parts), model=model)
    if usage is not None:
        chunks.append(wire.openai_usage_chunk(*usage, model=model))
    return Reply(tuple(_paced(_frames(chunks, done=True), delay)))


def error_reply(
    status: int, message: str = "The fake LLM is overloaded.", *, retry_after: float | None = None
) -> Reply:
    """An HTTP error with OpenAI's JSON error body (and Retry-After when given)."""
    headers = (("Retry-After", f"{retry_after:g}"),) if retry_after is not None else ()
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return Reply(status=status, error_body=wire.openai_error_body(message, type=kind), headers=headers)


def raw_reply(*steps: Step) -> Reply:
    """A stream of exactly these steps (for malformed or truncated streams)."""
    return Reply(tuple(steps))


# --- recording ----------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the server saw it, and how its response ended."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    outcome: str = "open"  # open, complete, client_closed, error
    events: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
SPEECH_PATH = "/v1/audio/speech"


@dataclass(frozen=True)
class Transcript:
    """What one transcription request gets: `{"text": text}`."""

    text: str


def transcript_reply(text: str) -> Transcript:
    return Transcript(text)


@dataclass
class AudioRequest:
    """One request to an audio endpoint as the server saw it."""

    path: str
    content_type: str  # of the request (multipart/form-data; boundary=..., or application/json)
    model: str
    fields: dict[str, str]  # the form fields (transcriptions) or the JSON body (speech), but the file
    file_name: str = ""
    file_content_type: str = ""
    data: bytes = b""  # the uploaded file (transcriptions)

    @property
    def byte_length(self) -> int:
        return len(self.data)


def speech_wav(seconds: float = 0.6, rate: int = 16000, hz: float = 440.0) -> bytes:
    """A real mono 16-bit WAV: a quiet tone of this length (what the fake says for any text)."""
    import io
    import struct
    import wave

    frames = b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * hz * i / rate))) for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


def _form(content_type: str, body: bytes) -> tuple[dict[str, str], tuple[str, str, bytes]]:
    """The fields and the one file (name, content type, bytes) of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    upload = ("", "", b"")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            upload = (part.get_filename() or "", part.get_content_type(), payload)
        else:
            fields[str(name)] = payload.decode("utf-8", "replace")
    return fields, upload


class _ClientGone(Exception):
    pass


# --- the server ---------------------------------------------------------------------------------


class FakeLLMServer:
    """The scripted server: `script()` queues replies, `requests` lists what arrived."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, default: Callable[[dict], Reply] | None = None,
        *, nodelay: bool = False,
    ) -> None:
        """nodelay=True sends each chunk the moment it is written (TCP_NODELAY), as providers do.

        Off by default, as the suites were written against it: with Nagle on, a chunk written
        right after another may wait for the client's delayed ACK (up to ~40 ms) and arrive with
        the next, and the first token of an instant reply comes ~40-50 ms late.
        """
        self.nodelay = nodelay
        self._lock = threading.Condition()
        self._replies: deque[Reply] = deque()
        self._holds: dict[str, threading.Event] = {}
        self._held: set[str] = set()
        self._default = default
        self.requests: list[RecordedRequest] = []
        self.connections = 0  # TCP connections accepted: a client that reuses keep-alive connections opens few
        self.audio_requests: list[AudioRequest] = []
        self._transcripts: deque[Transcript | Reply] = deque()
        self._speech_errors: deque[Reply | Hold] = deque()
        self._httpd = _HTTPServer((host, port), _handler_for(self))
        self._httpd.fake = self
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The base URL a provider config wants (`.../v1`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.reset()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # scripting

    def script(self, *replies: Reply) -> None:
        """Queue replies; each request to /v1/chat/completions takes the next one."""
        with self._lock:
            self._replies.extend(replies)

    def script_transcripts(self, *replies: Transcript | Reply) -> None:
        """Queue answers of /v1/audio/transcriptions: `transcript_reply(text)` or `error_reply(...)`, one per request."""
        with self._lock:
            self._transcripts.extend(replies)

    def script_speech_error(self, *replies: Reply | Hold) -> None:
        """The next requests to /v1/audio/speech get these errors (otherwise each gets `speech_wav()`); a
        `Hold(name)` makes one wait until `release(name)` (or the client goes away), then get `speech_wav()`."""
        with self._lock:
            self._speech_errors.extend(replies)

    def audio(self, path: str) -> list[AudioRequest]:
        """The audio requests received at path (TRANSCRIPTIONS_PATH or SPEECH_PATH), in order."""
        with self._lock:
            return [r for r in self.audio_requests if r.path == path]

    def wait_for_audio(self, path: str, count: int, timeout: float = 10.0) -> list[AudioRequest]:
        """Block until at least `count` requests reached path; fail naming how many did."""
        with self._lock:
            if not self._lock.wait_for(lambda: len([r for r in self.audio_requests if r.path == path]) >= count, timeout):
                got = [r.path for r in self.audio_requests]
                raise AssertionError(f"fake server expected {count} request(s) to {path} within {timeout} s, got {got}")
            return [r for r in self.audio_requests if r.path == path]

    def pending(self) -> int:
        """How many scripted replies no request has taken yet."""
        with self._lock:
            return len(self._replies)

    def release(self, name: str) -> None:
        """Let a stream waiting at `Hold(name)` carry on."""
        with self._lock:
            self._holds.setdefault(name, threading.Event()).set()

    def reset(self) -> None:
        """Forget scripts and recorded requests, and release every hold (between tests)."""
        with self._lock:
            self._replies.clear()
            self.requests = []
            self.audio_requests = []
            self._transcripts.clear()
            self._speech_errors.clear()
            for event in self._holds.values():
                event.set()
            self._holds = {}
            self._held = set()
            self._lock.notify_all()

    # waiting (for tests; every wait is bounded and says what it saw)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least `count` requests arrived; fail naming how many did."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(
                    f"fake LLM expected {count} request(s) within {timeout} s, got {len(self.requests)}"
                )
            return list(self.requests)

    def wait_until_held(self, name: str, timeout: float = 10.0) -> None:
        """Block until a stream reached `Hold(name)`."""
        with self._lock:
            if not self._lock.wait_for(lambda: name in self._held, timeout):
                raise AssertionError(
                    f"fake LLM: no stream reached hold {name!r} within {timeout} s; "
                    f"{len(self.requests)} request(s), holds reached: {sorted(self._held)}"
                )

    def wait_for_outcome(self, index: int, outcome: str, timeout: float = 10.0) -> RecordedRequest:
        """Block until request `index` ended with `outcome` (e.g. "client_closed")."""

        def ended() -> bool:
            return len(self.requests) > index and self.requests[index].outcome == outcome

        with self._lock:
            if not self._lock.wait_for(ended, timeout):
                seen = [r.outcome for r in self.requests]
                raise AssertionError(
                    f"fake LLM request #{index} did not end {outcome!r} within {timeout} s; outcomes: {seen}"
                )
            return self.requests[index]

    # used by the handler

    def _take(self, record: RecordedRequest) -> Reply | None:
        with self._lock:
            self.requests.append(record)
            self._lock.notify_all()
            if self._replies:
                return self._replies.popleft()
        return self._default(record.body) if self._default else None

    def _take_audio(self, record: AudioRequest) -> Transcript | Reply | Hold | None:
        with self._lock:
            self.audio_requests.append(record)
            self._lock.notify_all()
            queue = self._transcripts if record.path == TRANSCRIPTIONS_PATH else self._speech_errors
            return queue.popleft() if queue else None

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(record)
            self._lock.notify_all()

    def _hold_event(self, name: str) -> threading.Event:
        with self._lock:
            self._held.add(name)
            self._lock.notify_all()
            return self._holds.setdefault(name, threading.Event())

    def _finish(self, record: RecordedRequest, outcome: str) -> None:
        with self._lock:
            record.outcome = outcome
            self._lock.notify_all()


class _HTTPServer(ThreadingHTTPServer):
    # Room for a few hundred simultaneous connects (load tests); the default backlog is 5.
    request_queue_size = 512
    fake: FakeLLMServer

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self.fake._lock:
            self.fake.connections += 1
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-stream (a stopped reply closes its connection) is not an error here."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = server
        disable_nagle_algorithm = server.nodelay

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeLLMServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: the recorded requests are the log."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": DEFAULT_MODEL, "object": "model", "owned_by": "fake"}]})
        else:
            self._json(404, wire.openai_error_body(f"Unknown path {self.path}", type="not_found_error"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") in (TRANSCRIPTIONS_PATH, SPEECH_PATH):
            self._audio(self.path.rstrip("/"), raw)
            return
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = RecordedRequest("POST", self.path, dict(self.headers.items()), body)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.fake._record(record)
            self._json(404, wire.openai_error_body(f"Unknown path {self.path}", type="not_found_error"))
            return
        reply = self.fake._take(record)
        if reply is None:
            number = len(self.fake.requests)
            self._json(400, wire.openai_error_body(f"fake LLM server: no scripted reply left for request #{number}"))
            self.fake._finish(record, "error")
        elif reply.status != 200:
            self._json(reply.status, reply.error_body or {}, reply.headers)
            self.fake._finish(record, "error")
        else:
            self._stream(record, reply)

    def _audio(self, path: str, raw: bytes) -> None:
        content_type = self.headers.get("Content-Type", "")
        if path == TRANSCRIPTIONS_PATH:
            if not content_type.startswith("multipart/form-data"):
                self._json(400, wire.openai_error_body("Expected a multipart/form-data upload with a file."))
                return
            fields, (name, file_type, data) = _form(content_type, raw)
            record = AudioRequest(path, content_type, fields.get("model", ""), fields, name, file_type, data)
        else:
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
            if not isinstance(body, dict) or not body.get("input"):
                self._json(400, wire.openai_error_body("Expected a JSON body with 'model', 'input' and 'voice'."))
                return
            record = AudioRequest(path, content_type, str(body.get("model", "")), body)
        answer = self.fake._take_audio(record)
        if isinstance(answer, Hold):
            try:
                self._run(answer, None)
            except _ClientGone:
                return
            answer = None
        if isinstance(answer, Reply):
            self._json(answer.status, answer.error_body or {}, answer.headers)
        elif path == SPEECH_PATH:
            self._bytes(200, speech_wav(), "audio/wav")
        elif answer is None:
            count = len(self.fake.audio(TRANSCRIPTIONS_PATH))
            self._json(400, wire.openai_error_body(f"fake server: no transcript scripted for transcription #{count}"))
        else:
            self._json(200, {"text": answer.text})

    def _bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _json(self, status: int, body: dict[str, Any], headers: Iterable[tuple[str, str]] = ()) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _stream(self, record: RecordedRequest, reply: Reply) -> None:
        self.send_response(200)
        for name, value in wire.SSE_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for step in reply.steps:
                self._run(step, record)
            self._write_chunk(b"")
        except (_ClientGone, BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self.fake._finish(record, "client_closed")
            return
        self.fake._finish(record, "complete")

    def _run(self, step: Step, record: RecordedRequest | None) -> None:
        if isinstance(step, Frame):
            data = step.text if isinstance(step.text, bytes) else step.text.encode()
            self._write_chunk(data)
            if record is not None:
                record.events.append(data.decode("utf-8", errors="replace"))
        elif isinstance(step, Pause):
            self._wait(lambda: False, step.seconds)
        elif isinstance(step, Stamped):
            self._stamped(step)
        else:
            event = self.fake._hold_event(step.name)
            self._wait(event.is_set, MAX_WAIT_SECONDS)

    def _stamped(self, step: Stamped) -> None:
        # A plain sleep to each token's slot (at most one interval): polling for a closed peer
        # 50 times a second per stream would cost more than the streams at 200 of them. A client
        # that went away makes the next write fail instead.
        start = time.monotonic()
        for index in range(step.count):
            delay = start + index * step.interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # allowed-sleep: the fake paces its tokens in real time, as a provider does
            chunk = wire.openai_chunk({"content": stamp_token(index, time.time())}, model=step.model)
            self._write_chunk(wire.sse_frame(chunk).encode())

    def _write_chunk(self, data: bytes) -> None:
        # HTTP/1.1 chunked encoding: what real providers send, and what lets clients read each event as it comes.
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _wait(self, done: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            if _peer_closed(self.connection):
                raise _ClientGone
            time.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))  # allowed-sleep: a Hold or Pause of the fake, bounded; polls for a closed client


def _peer_closed(sock: socket.socket) -> bool:
    """True when the client has closed its end (a readable socket with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def echo_reply(body: dict[str, Any]) -> Reply:
    """The standalone server's answer: the last user message, said back word by word."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"] if isinstance(body, dict) else []
    said = str(users[-1].get("content", "")) if users else ""
    words = [w + " " for w in f"You said: {said}".split()]
    return text_reply(*words, delay=0.05)


def stamped_or_echo_reply(body: dict[str, Any]) -> Reply:
    """The standalone server's answer: a stamped stream when asked with `stamped_request`, else an echo."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"] if isinstance(body, dict) else []
    match = _STAMPED_REQUEST.match(str(users[-1].get("content", ""))) if users else None
    if match:
        return stamped_reply(int(match.group(1)), float(match.group(2)))
    return echo_reply(body)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the fake OpenAI-compatible LLM (echo or stamped replies).")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (printed on the first line)")
    args = parser.parse_args()
    server = FakeLLMServer(port=args.port, default=stamped_or_echo_reply, nodelay=True)
    print(f"fake LLM at {server.base_url} (family openai); Ctrl-C stops it", flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
