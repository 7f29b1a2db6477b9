"""Documents and SSE: upload + extraction throughput of a ~5 MB PDF, and N concurrent replies followed
over Server-Sent Events, each as a ratio to a baseline measured in the same run.

    .venv/bin/python bench/documents_sse.py [--streams 50] [--tokens 200] [--rate 20] [--uploads 3]

* Upload: the baseline is pypdf extracting the same PDF in this process; the site is a real daphne
  taking it as a multipart POST /api/v1/documents (checks, extraction in a worker process, storage,
  passages indexed). Printed: MB/s of each and the site's share of the baseline.
* SSE relay: the same scripted replies (the fake LLM server's stamped tokens) followed by N WebSocket
  tabs, then by N SSE streams (GET .../events, sent with POST .../messages). The socket relay is the
  baseline. Printed: delivered tokens/s, added delay per token (p50, p99), loss, and SSE / socket.

Loopback only, SQLite and the in-memory layer; every wait is bounded and so is the whole run (SIGALRM);
every server is a child process that dies with the script. Progress to stderr; stdout gets the tables
and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness import (
    HOST,
    ROOT,
    Children,
    close_sockets,
    launch_daphne,
    log,
    manage,
    on_signal,
    open_many,
    prepare_database,
    wait_ready,
)
from relay import MAX_FRAMES_PER_REPLY, ReplyResult, analyse, apply_delta, one_reply, site_env_for, start_fake_llm

sys.path.insert(0, str(ROOT))
from tests.support.fake_llm_server import stamped_request  # noqa: E402
from tests.support.pdfs import filler_pages, pdf_bytes  # noqa: E402

HARD_LIMIT_SECONDS = 300
HTTP_TIMEOUT = 60.0
MAKE_TOKENS = """
import json
from django.contrib.auth import get_user_model
from chat import services
users = get_user_model().objects.filter(username__startswith="bench").order_by("username")
print(json.dumps([services.api_token_create(owner=u, name="bench")[1] for u in users]))
"""


def five_mb_pdf(seed: int) -> bytes:
    """About 5 MB of text pages; `seed` makes each upload's bytes differ (no de-duplication)."""
    return pdf_bytes(filler_pages(500, planted=f"Upload number {seed} of the benchmark.", on_page=1, lines=116))


def http(method: str, url: str, token: str, body: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Authorization": f"Bearer {token}"})
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "benchboundary7d1f"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def measure_uploads(base: str, token: str, uploads: int) -> dict[str, Any]:
    from chat.documents.extract import extract

    files = [five_mb_pdf(n) for n in range(uploads)]
    size_mb = sum(len(f) for f in files) / 1048576
    extract("warm-up.pdf", pdf_bytes(["warm up"]), 10)  # imports pypdf here, as the site's worker has
    baseline = site = 0.0
    for n, data in enumerate(files):  # interleaved, so a change in machine load falls on both alike
        started = time.perf_counter()
        extract("bench.pdf", data, 100_000)
        baseline += time.perf_counter() - started
        body, content_type = multipart(f"bench-{n}.pdf", data)
        started = time.perf_counter()
        status, answer = http("POST", f"{base}/api/v1/documents", token, body, content_type)
        site += time.perf_counter() - started
        if status != 201:
            raise RuntimeError(f"upload {n} answered {status}: {answer[:300]!r}")
    return {
        "files": uploads, "mb_per_file": round(size_mb / uploads, 2),
        "baseline_mb_per_s": size_mb / baseline, "site_mb_per_s": size_mb / site, "site_vs_baseline": baseline / site,
    }


async def sse_reply(port: int, token: str, count: int, rate: float, deadline: float) -> ReplyResult:
    """One conversation followed over SSE (HTTP/1.0: no chunking, the server closes at the end), sent by POST."""
    base = f"http://{HOST}:{port}"
    status, body = await asyncio.to_thread(
        http, "POST", f"{base}/api/v1/conversations", token, b'{"title": "bench"}', "application/json"
    )
    if status != 201:
        raise RuntimeError(f"creating a conversation answered {status}: {body[:200]!r}")
    cid = json.loads(body)["id"]
    result = ReplyResult(f"sse-{cid}", count, conversation_id=cid)
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(
            f"GET /api/v1/conversations/{cid}/events HTTP/1.0\r\nHost: {HOST}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
            status_line = await reader.readline()
            if b" 200 " not in status_line:
                raise RuntimeError(f"events answered {status_line!r}")
            while (await reader.readline()).strip():  # headers
                pass
            await read_until(reader, "conversation.opened")
            result.sent_perf = time.perf_counter()
            message = json.dumps({"text": stamped_request(count, rate)}).encode()
            posted = asyncio.create_task(asyncio.to_thread(
                http, "POST", f"{base}/api/v1/conversations/{cid}/messages", token, message, "application/json"
            ))
            for _ in range(MAX_FRAMES_PER_REPLY):
                frame = await read_event(reader)
                if frame is None:
                    result.error = "the stream ended"
                    break
                if frame.get("type") == "assistant.delta":
                    if result.first_delta_perf is None:
                        result.first_delta_perf = time.perf_counter()
                    result.frames += 1
                    apply_delta(result, frame, time.time())
                elif frame.get("type") == "turn.finished":
                    result.status, result.error = frame.get("status", "?"), frame.get("error", "")
                    break
            status, body = await posted
            if status != 202:
                result.error = f"send answered {status}: {body[:200]!r}"
    except TimeoutError:
        result.error = result.error or "deadline"
    finally:
        writer.close()
    return result


async def read_event(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next event's data as JSON; None at the end of the stream. Comments (keep-alives) are skipped."""
    data = ""
    while True:
        line = await reader.readline()
        if not line:
            return None
        text = line.decode().rstrip("\r\n")
        if text.startswith("data:"):
            data += text[5:].strip()
        elif not text and data:
            return json.loads(data)


async def read_until(reader: asyncio.StreamReader, kind: str) -> None:
    for _ in range(MAX_FRAMES_PER_REPLY):
        frame = await read_event(reader)
        if frame is None or frame.get("type") == kind:
            return


async def measure_relay(port: int, sessions: list[str], tokens_: list[str], streams: int, count: int, rate: float) -> dict[str, Any]:
    bound = count / rate + 30
    targets = [
        (f"ws://{HOST}:{port}/ws/chat/", {"Origin": f"http://{HOST}:{port}", "Cookie": f"sessionid={sessions[i]}"})
        for i in range(streams)
    ]
    log(f"socket relay: {streams} tabs, {count} tokens at {rate:g}/s each")
    sockets = await open_many(targets)
    try:
        deadline = time.monotonic() + bound
        socket_results = await asyncio.gather(
            *(one_reply(ws, f"bench-{i}", count, rate, deadline) for i, ws in enumerate(sockets))
        )
    finally:
        await close_sockets(sockets)
    log(f"SSE relay: {streams} streams")
    deadline = time.monotonic() + bound
    sse_results = await asyncio.gather(*(sse_reply(port, tokens_[i], count, rate, deadline) for i in range(streams)))
    return {"socket": analyse(list(socket_results), count, rate), "sse": analyse(list(sse_results), count, rate)}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def report(upload: dict[str, Any], relay: dict[str, Any], streams: int) -> None:
    print(f"\nUpload and extraction, {upload['files']} PDFs of {upload['mb_per_file']} MB")
    print("| path | MB/s | vs in-process pypdf |\n|---|---|---|")
    print(f"| pypdf in this process (baseline) | {upload['baseline_mb_per_s']:.2f} | 1.00x |")
    print(f"| POST /api/v1/documents on daphne | {upload['site_mb_per_s']:.2f} | {upload['site_vs_baseline']:.2f}x |")
    sock, sse = relay["socket"], relay["sse"]
    print(f"\nRelay of {streams} concurrent replies")
    print("| path | delivered tok/s | delay p50 ms | delay p99 ms | lost | not arrived | unfinished |\n|---|---|---|---|---|---|---|")
    for name, row in (("WebSocket (baseline)", sock), ("SSE", sse)):
        print(f"| {name} | {row['delivered_tok_per_s']:.0f} | {row['delay_p50_ms']:.0f} | {row['delay_p99_ms']:.0f} "
              f"| {row['lost']} | {row['not_arrived']} | {row['unfinished']} |")
    print(f"| SSE / WebSocket | {ratio(sse['delivered_tok_per_s'], sock['delivered_tok_per_s'])} "
          f"| {ratio(sse['delay_p50_ms'], sock['delay_p50_ms'])} | {ratio(sse['delay_p99_ms'], sock['delay_p99_ms'])} | | | |")
    for name, row in (("socket", sock), ("sse", sse)):
        if row["errors"]:
            print(f"{name} errors: {row['errors']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--uploads", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(HARD_LIMIT_SECONDS)
    children = Children()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-docs-") as directory:
            tmp = Path(directory)
            _, llm_url = start_fake_llm(children)
            env = site_env_for(
                llm_url, DATABASE_URL=f"sqlite:///{tmp / 'site.sqlite3'}", MEDIA_ROOT=str(tmp / "media"),
                API_RATE_LIMIT_PER_MINUTE="1000000", DOCUMENTS_MAX_TOTAL_BYTES=str(1 << 34),
            )
            log("migrating, creating users")
            sessions = prepare_database(env, args.streams)
            tokens_ = json.loads(manage(["shell", "-c", MAKE_TOKENS], env).strip().splitlines()[-1])
            daphne = launch_daphne(children, "chatsite.asgi:application", env, tmp / "site.log", "/accounts/login/")
            wait_ready(daphne)
            log(f"uploading {args.uploads} PDFs of about 5 MB")
            upload = measure_uploads(f"http://{HOST}:{daphne.port}", tokens_[0], args.uploads)
            relay = asyncio.run(measure_relay(daphne.port, sessions, tokens_, args.streams, args.tokens, args.rate))
            report(upload, relay, args.streams)
            print(json.dumps({"upload": upload, "relay": relay}, default=str))
    finally:
        children.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
