"""Every Prometheus metric of the site, with one small function per event so instrumented code stays one line.

Labels are bounded: frame types, error codes, roles, statuses and outcomes come from fixed sets in
the code; providers, MCP servers and their tools from the operator's configuration; close codes
from a fixed list ("other" beyond it). Never a user, conversation or message id.

Multiprocess mode: with PROMETHEUS_MULTIPROC_DIR in a process's environment before it starts,
prometheus_client keeps every value in files in that directory and a scrape of any process sums
every process's files (chat/metrics_view.py). Counters and histograms of processes that exited
stay in the sum; the live gauges (open sockets, breaker state) of a process leave it when it exits.
docs/operations.md explains each metric and the alerts to set.

This module needs no Django settings, so any process can write metrics without setting Django up.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram, values
from prometheus_client import multiprocess as _multiprocess

from chat.llm.base import Started, TextDelta, ToolCall

T = TypeVar("T")

# --- sockets -----------------------------------------------------------------------------------------------

SOCKETS_OPEN = Gauge(
    "chat_sockets_open", "Chat sockets open now (accepted at the handshake: logged in).",
    multiprocess_mode="livesum",
)
SOCKET_CONNECTS = Counter(
    "chat_socket_connects", "Chat sockets accepted at the handshake (logged in; one over the per-person limit is "
    "accepted to be told why, then closed with 4429).",
)
SOCKET_DISCONNECTS = Counter(
    "chat_socket_disconnects", "Chat sockets closed, by WebSocket close code (\"other\" for codes outside a fixed list).",
    ["code"],
)

# --- frames ------------------------------------------------------------------------------------------------

FRAMES_IN = Counter("chat_frames_in", "Client frames that parsed, by type (refused ones: chat_error_frames).", ["type"])
FRAMES_OUT = Counter("chat_frames_out", "Frames written to sockets, by type.", ["type"])
ERROR_FRAMES = Counter("chat_error_frames", "Error frames written to sockets, by code.", ["code"])
REGENERATIONS = Counter(
    "chat_regenerations",
    "Replies asked for again (socket or API) that reached the turn engine, by outcome: created, resent, busy, "
    "not_found, too_many_replies.",
    ["outcome"],
)
MESSAGE_SENDS = Counter(
    "chat_message_sends",
    "Messages sent (socket or API) that reached the turn engine, by outcome: created, resent (a resend "
    "de-duplicated), client_id_used (a client id of the person's message in another conversation), busy, "
    "not_found, too_many_replies.",
    ["outcome"],
)
RATE_LIMITED = Counter(
    "chat_rate_limited", "Requests refused by a per-person limit: messages, replays, api, sockets.", ["limit"]
)

# --- messages and turns ------------------------------------------------------------------------------------

MESSAGES_STORED = Counter("chat_messages_stored", "Messages stored in their final state, by role and status.",
                          ["role", "status"])
TURNS_STARTED = Counter("chat_turns_started", "Turns (replies) started in this process.")
TURNS_FINISHED = Counter("chat_turns_finished", "Turns ended with turn.finished, by status.", ["status"])
TIME_TO_FIRST_TOKEN = Histogram(
    "chat_time_to_first_token_seconds",
    "From a turn's start to the model's first text or tool call, once per turn that got any, by provider.",
    ["provider"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
TURN_DURATION = Histogram(
    "chat_turn_duration_seconds", "From a turn's start to its turn.finished, by status.", ["status"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160, 300),
)
TOKENS_PER_SECOND = Histogram(
    "chat_tokens_per_second",
    "Output tokens per second of each model stream that produced text and ended normally, from its first "
    "text to its end (tokens: the provider's usage count, else the text chunks it streamed), by provider.",
    ["provider"], buckets=(1, 5, 10, 20, 40, 80, 160, 320, 640, 1280),
)
RELAY_DELAY = Histogram(
    "chat_relay_delay_seconds",
    "From a frame's publish to the conversation's group to its write to a socket, per frame written.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# --- providers ---------------------------------------------------------------------------------------------

PROVIDER_REQUESTS = Counter(
    "chat_llm_provider_requests",
    "Requests to an LLM provider up to its first content, by provider and outcome: ok, transient_error, "
    "error, cancelled, circuit_open (skipped without a request).",
    ["provider", "outcome"],
)
FALLBACKS = Counter("chat_llm_fallbacks", "Replies moved on to this provider after the ones before it failed.",
                    ["provider"])
BREAKER_STATE = Gauge(
    "chat_llm_breaker_state", "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open (worst process).",
    ["provider"], multiprocess_mode="livemax",
)
BREAKER_TRANSITIONS = Counter("chat_llm_breaker_transitions", "Circuit breaker state changes per provider.",
                              ["provider", "from_state", "to_state"])

# --- tools -------------------------------------------------------------------------------------------------

TOOL_CALLS = Counter("chat_tool_calls", "Tool calls by MCP server, tool and outcome.", ["server", "tool", "outcome"])
TOOL_DURATION = Histogram(
    "chat_tool_call_duration_seconds", "Tool call durations by MCP server and tool.", ["server", "tool"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

# --- infrastructure ----------------------------------------------------------------------------------------

LAYER_PUBLISH = Histogram(
    "chat_channel_layer_publish_seconds", "Time to publish a frame to a conversation's group on the channel layer.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
LAYER_DROPPED = Counter(
    "chat_channel_layer_dropped",
    "Frames the channel layer did not hold for a socket whose channel was full (a socket far behind), by "
    "kind: delta (reply text: the socket resyncs it, or gets it whole with assistant.completed), evicted (a "
    "queued delta dropped to make room for a frame that cannot be resent), frame (any other frame: lost for that socket); "
    "redis (under REDIS_URL: a frame for other processes that Redis did not take, so their sockets missed it).",
    ["kind"],
)
LAYER_BETWEEN_PROCESSES = Counter(
    "chat_channel_layer_between_processes",
    "Frames the Redis channel layer carried between daphne processes, by direction: sent (one per process "
    "reached), received. Frames for a process's own sockets never go through Redis.",
    ["direction"],
)
DB_SAVE = Histogram(
    "chat_db_save_seconds",
    "Time of completed database writes of the turn engine, by kind: accept (a sent message and its reply "
    "row), create, final (a message's final state), interim (a batch of growing replies).",
    ["kind"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
TOOL_OUTCOMES = frozenset(
    {"result", "error", "invalid", "unknown", "timeout", "unavailable", "declined", "stopped", "exception"}
)
CLOSE_CODES = frozenset({*range(1000, 1016), 4401, 4429})

_open_sockets: set[str] = set()


def multiprocess() -> bool:
    """True when this process writes its metrics to PROMETHEUS_MULTIPROC_DIR (decided when prometheus_client loaded)."""
    return values.ValueClass is not values.MutexValue


def check_configuration() -> None:
    """At start-up: a PROMETHEUS_MULTIPROC_DIR the settings name must be one this process writes to."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    directory = settings.PROMETHEUS_MULTIPROC_DIR
    if not directory:
        return
    if not os.path.isdir(directory):
        raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR {directory!r} is not a directory; create it (empty) first.")
    if not multiprocess() or os.environ.get("PROMETHEUS_MULTIPROC_DIR") != directory:
        raise ImproperlyConfigured(
            "PROMETHEUS_MULTIPROC_DIR must be in the server process's environment before it starts "
            "(prometheus_client reads it when it loads), not only in the settings."
        )


def _mark_this_process_dead() -> None:
    """At exit, this process's live gauges (open sockets, breaker state) leave the sum; its counters stay."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.path.isdir(directory):
        _multiprocess.mark_process_dead(os.getpid(), directory)


if multiprocess():
    atexit.register(_mark_this_process_dead)


def socket_opened(channel: str) -> None:
    _open_sockets.add(channel)
    SOCKET_CONNECTS.inc()
    SOCKETS_OPEN.inc()


def socket_closed(channel: str, code: Any) -> None:
    """Counted once per socket that socket_opened counted, whatever else closes it."""
    if channel not in _open_sockets:
        return
    _open_sockets.discard(channel)
    SOCKETS_OPEN.dec()
    SOCKET_DISCONNECTS.labels(str(code) if code in CLOSE_CODES else "other").inc()


def frame_in(kind: str) -> None:
    FRAMES_IN.labels(kind).inc()


def frame_out(frame: dict[str, Any]) -> None:
    kind = frame.get("type", "")
    FRAMES_OUT.labels(kind).inc()
    if kind == "error":
        ERROR_FRAMES.labels(frame.get("code", "")).inc()


def message_send(outcome: str) -> None:
    """A send's outcome at the turn engine; a created one stored the person's message."""
    MESSAGE_SENDS.labels(str(outcome)).inc()
    if outcome == "created":
        MESSAGES_STORED.labels("user", "complete").inc()


def regeneration(outcome: str) -> None:
    """A regenerate's outcome at the turn engine; it stores no message of the person's."""
    REGENERATIONS.labels(str(outcome)).inc()


def rate_limited(limit: str) -> None:
    RATE_LIMITED.labels(limit).inc()


def message_stored(role: str, status: str) -> None:
    MESSAGES_STORED.labels(str(role), str(status)).inc()


def messages_interrupted(tools: int, others: int) -> None:
    """Messages of dead turns marked failed ("interrupted"): tool messages and assistant replies."""
    if tools:
        MESSAGES_STORED.labels("tool", "failed").inc(tools)
    if others:
        MESSAGES_STORED.labels("assistant", "failed").inc(others)


class TurnMeter:
    """The timings of one turn: made when the turn starts, told about the model's events and the turn's end."""

    def __init__(self) -> None:
        TURNS_STARTED.inc()
        self.started = time.monotonic()
        self.provider = "unknown"
        self._first_content = False
        self._stream_text_at: float | None = None
        self._chunks = 0

    def stream_started(self) -> None:
        self._stream_text_at, self._chunks = None, 0

    def saw(self, event: Any) -> None:
        """Called with every event of a model stream."""
        if isinstance(event, Started):
            self.provider = event.provider
            return
        text = isinstance(event, TextDelta) and bool(event.text)
        if text:
            self._chunks += 1
            if self._stream_text_at is None:
                self._stream_text_at = time.monotonic()
        if (text or isinstance(event, ToolCall)) and not self._first_content:
            self._first_content = True
            TIME_TO_FIRST_TOKEN.labels(self.provider).observe(time.monotonic() - self.started)

    def stream_ended(self, usage: dict[str, int] | None) -> None:
        """A model stream ended normally; rates only for streams that produced text."""
        if self._stream_text_at is None:
            return
        tokens = (usage or {}).get("output_tokens") or self._chunks
        seconds = max(time.monotonic() - self._stream_text_at, 0.001)
        TOKENS_PER_SECOND.labels(self.provider).observe(tokens / seconds)
        self._stream_text_at = None

    def finished(self, status: str) -> None:
        TURNS_FINISHED.labels(str(status)).inc()
        TURN_DURATION.labels(str(status)).observe(time.monotonic() - self.started)


def stamp() -> float:
    """The publish time a relayed frame carries (wall clock: the frame may cross processes)."""
    return time.time()


def relayed(event: dict[str, Any]) -> None:
    """A published frame is being written to a socket (replays and resyncs carry no stamp)."""
    published = event.get("at")
    if published is not None:
        RELAY_DELAY.observe(max(0.0, time.time() - published))


async def layer_publish(publishing: Awaitable[T]) -> T:
    start = time.perf_counter()
    result = await publishing
    LAYER_PUBLISH.observe(time.perf_counter() - start)
    return result


def layer_dropped(kind: str, count: int = 1) -> None:
    LAYER_DROPPED.labels(kind).inc(count)


def layer_between_processes(direction: str, count: int = 1) -> None:
    if count:
        LAYER_BETWEEN_PROCESSES.labels(direction).inc(count)


async def db_save(kind: str, saving: Awaitable[T]) -> T:
    """Time a database write; only writes that complete are observed."""
    start = time.perf_counter()
    result = await saving
    DB_SAVE.labels(kind).observe(time.perf_counter() - start)
    return result


def provider_request(provider: str, outcome: str) -> None:
    PROVIDER_REQUESTS.labels(provider, outcome).inc()


def provider_failed(provider: str, exc: BaseException) -> None:
    """A request to a provider ended before its first content."""
    if isinstance(exc, GeneratorExit | asyncio.CancelledError):
        outcome = "cancelled"
    else:
        outcome = "transient_error" if getattr(exc, "transient", False) else "error"
    PROVIDER_REQUESTS.labels(provider, outcome).inc()


def fallback(provider: str, failures: list[Any]) -> None:
    """Called as the chain tries `provider`; a fallback when earlier providers failed."""
    if failures:
        FALLBACKS.labels(provider).inc()


def breaker_state(provider: str, state: str) -> None:
    BREAKER_STATE.labels(provider).set(BREAKER_VALUES[state])


def breaker_transition(provider: str, old: str, new: str) -> None:
    BREAKER_TRANSITIONS.labels(provider, old, new).inc()
    BREAKER_STATE.labels(provider).set(BREAKER_VALUES[new])


async def tool_call(tool: Any, calling: Awaitable[T]) -> T:
    """Count and time one call of `tool` (a HubTool; None for a tool the model made up)."""
    server, name = (tool.server, tool.tool) if tool is not None else ("unknown", "unknown")
    start, outcome = time.perf_counter(), "exception"
    try:
        result = await calling
        kind = getattr(result, "kind", "other")
        outcome = kind if kind in TOOL_OUTCOMES else "other"
        return result
    except asyncio.CancelledError:
        outcome = "stopped"
        raise
    finally:
        TOOL_CALLS.labels(server, name, outcome).inc()
        TOOL_DURATION.labels(server, name).observe(time.perf_counter() - start)
