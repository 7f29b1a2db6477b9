"""The worker-thread transport over a real loopback socket: prompt close, no thread left, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator

import pytest

from chat.llm.base import ChatMessage, LLMEvent, LLMRequest, TextDelta
from chat.llm.chain import ProviderChain
from chat.llm.config import ProviderConfig
from chat.llm.errors import ProviderError
from chat.llm.openai_compat import OpenAICompatProvider
from tests.support.fake_llm_server import FakeLLMServer, Hold, Pause, Reply, text_reply

REQUEST = LLMRequest([ChatMessage("user", "Hello")])


@pytest.fixture
def fake():
    with FakeLLMServer() as server:
        yield server


def provider(fake: FakeLLMServer, read_timeout: float = 10.0) -> OpenAICompatProvider:
    return OpenAICompatProvider(ProviderConfig(
        name="local", family="openai", base_url=fake.base_url, model="fake-model", read_timeout=read_timeout,
    ))


def stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("llm-stream")]


async def assert_no_stream_threads(bound: float = 5) -> None:
    """Every worker thread ends within the bound (joined, not polled)."""
    for thread in stream_threads():
        await asyncio.to_thread(thread.join, bound)
    assert not stream_threads(), f"stream threads still alive after {bound} s: {stream_threads()}"


async def test_closing_the_stream_mid_reply_closes_the_connection_and_ends_the_thread(fake):
    fake.script(text_reply("First ", Hold("rest"), "never sent"))
    stream = provider(fake).stream(REQUEST)
    events = []
    async for event in stream:
        events.append(event)
        if isinstance(event, TextDelta):
            break
    await stream.aclose()
    assert events[-1] == TextDelta("First ")
    await asyncio.to_thread(fake.wait_for_outcome, 0, "client_closed", 5)
    await assert_no_stream_threads()
    assert len(fake.requests) == 1, "closing the stream made a new request"


async def test_cancelling_the_consuming_task_closes_the_connection(fake):
    fake.script(text_reply("Working ", Hold("rest"), "on it"))
    got_text = asyncio.Event()

    async def consume() -> None:
        async for event in provider(fake).stream(REQUEST):
            if isinstance(event, TextDelta):
                got_text.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_text.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(fake.wait_for_outcome, 0, "client_closed", 5)
    await assert_no_stream_threads()


async def test_a_stalled_stream_fails_with_the_read_timeout(fake):
    fake.script(text_reply("Slow ", Hold("never")))
    seen = []
    with pytest.raises(ProviderError, match=r"^timed out after 0.3 s$"):
        async for event in provider(fake, read_timeout=0.3).stream(REQUEST):
            seen.append(event)
    assert TextDelta("Slow ") in seen
    await assert_no_stream_threads()


async def test_a_refused_connection_is_a_transient_failure():
    config = ProviderConfig(name="down", family="openai", base_url="http://127.0.0.1:9/v1", model="m", connect_timeout=2)
    with pytest.raises(ProviderError, match="connection failed") as caught:
        async for _ in OpenAICompatProvider(config).stream(REQUEST):
            pass
    assert caught.value.transient


async def test_stopping_before_the_first_token_closes_the_connection_and_frees_the_probe(fake):
    """Cancellation while the chain still waits for the first token is not a retry and not a failure."""
    fake.script(text_reply(Hold("thinking"), "never sent"))
    llm = ProviderChain([provider(fake)])

    async def first_event() -> object:
        async for event in llm.stream(REQUEST):
            return event

    task = asyncio.create_task(first_event())
    await asyncio.to_thread(fake.wait_until_held, "thinking", 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(fake.wait_for_outcome, 0, "client_closed", 5)
    breaker = llm.breakers["local"]
    assert (breaker.state, breaker.failures, len(fake.requests)) == ("closed", 0, 1)
    await assert_no_stream_threads()


class SilentServer:
    """Accepts one connection, reads the request, never answers; notes when the client closes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.got_request = threading.Event()
        self.client_closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        with conn:
            conn.recv(65536)
            self.got_request.set()
            with contextlib.suppress(OSError):
                while conn.recv(65536):
                    pass
                self.client_closed.set()

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


async def test_stopping_while_waiting_for_response_headers_closes_the_connection_at_once():
    server = SilentServer()
    try:
        config = ProviderConfig(name="slow", family="openai", base_url=server.base_url, model="m", read_timeout=30)
        stream = OpenAICompatProvider(config).stream(REQUEST)
        task = asyncio.create_task(anext(stream))  # Started comes first, without I/O
        await task
        second = asyncio.create_task(anext(stream))
        assert await asyncio.to_thread(server.got_request.wait, 5), "the provider never received the request"
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        assert await asyncio.to_thread(server.client_closed.wait, 2), "the server did not see the connection close"
        await assert_no_stream_threads(bound=2)
    finally:
        server.close()


async def test_closing_the_chain_mid_reply_closes_the_provider_connection(fake):
    fake.script(text_reply("First ", Hold("rest"), "never sent"))
    stream = ProviderChain([provider(fake)]).stream(REQUEST)
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()
    await asyncio.to_thread(fake.wait_for_outcome, 0, "client_closed", 5)
    await assert_no_stream_threads()


async def streams_at_once(fake: FakeLLMServer, local: OpenAICompatProvider, count: int, rounds: int) -> None:
    """`rounds` rounds of `count` streams that are all open at once: each waits at a hold until every one of its
    round has arrived, and a round starts once the last one's reader threads have ended."""

    async def one() -> str:
        return "".join([e.text async for e in local.stream(REQUEST) if isinstance(e, TextDelta)])

    for round_ in range(rounds):
        fake.script(*[text_reply("over ", Hold(f"round-{round_}"), "lapping") for _ in range(count)])
        streams = asyncio.gather(*(one() for _ in range(count)))
        await asyncio.to_thread(fake.wait_for_requests, count * (round_ + 1))
        fake.release(f"round-{round_}")
        assert await streams == ["over lapping"] * count
        await assert_no_stream_threads()  # every connection is back in the pool, or given up, before the next round


async def test_thirty_streams_at_once_reuse_their_connections_and_nothing_warns_the_pool_is_full(fake, caplog):
    """Each provider keeps `max_connections` (256) keep-alive connections: with requests' default of 10, each
    later round of thirty opens twenty new ones (70 over three rounds), and each stream past the tenth warns
    as it ends. Exactly thirty: a reader thread not yet scheduled when the site stops reading at `[DONE]` still
    reads the body's end and keeps its connection (52 were opened under load when it was shut at `[DONE]`)."""
    await streams_at_once(fake, provider(fake), count=30, rounds=3)
    assert fake.connections == 30
    assert "Connection pool is full" not in caplog.text


async def test_a_body_that_ends_a_moment_after_its_last_event_keeps_its_connection(fake):
    """The site stops reading at `[DONE]`; the chunked body's end comes 0.2 s later (a slow network, or a thread
    not yet scheduled under load). Shutting the connection at `[DONE]` made every such reply open a new one."""
    late_end = Reply((*text_reply("Hello").steps, Pause(0.2)))
    fake.script(late_end, text_reply("again"))
    local = provider(fake)
    assert [e.text async for e in local.stream(REQUEST) if isinstance(e, TextDelta)] == ["Hello"]
    await asyncio.to_thread(fake.wait_for_outcome, 0, "complete", 5)  # raises on "client_closed"
    assert [e.text async for e in local.stream(REQUEST) if isinstance(e, TextDelta)] == ["again"]
    assert fake.connections == 1


async def test_a_server_that_holds_the_connection_open_after_the_end_does_not_hold_the_reply(fake):
    """The reply is whole at `[DONE]`: it ends without waiting for the body's end, and the site shuts the
    connection the server keeps open after its grace (END_OF_BODY_SECONDS, 1 s), not at the 30 s read timeout."""
    fake.script(Reply((*text_reply("Hello").steps, Hold("never"))))
    stream = provider(fake, read_timeout=30).stream(REQUEST)
    texts = await asyncio.wait_for(_texts(stream), 5)
    assert texts == ["Hello"]
    await asyncio.to_thread(fake.wait_for_outcome, 0, "client_closed", 5)  # raises if still open
    await assert_no_stream_threads()


async def _texts(stream: AsyncIterator[LLMEvent]) -> list[str]:
    return [e.text async for e in stream if isinstance(e, TextDelta)]


async def test_a_providers_max_connections_is_how_many_it_keeps_for_reuse(fake):
    """max_connections: 5 keeps five of ten concurrent streams' connections; the next ten open at least five new ones."""
    local = OpenAICompatProvider(ProviderConfig(
        name="local", family="openai", base_url=fake.base_url, model="fake-model", max_connections=5,
    ))
    await streams_at_once(fake, local, count=10, rounds=2)
    assert fake.connections >= 15
