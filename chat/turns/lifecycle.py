"""A turn's whole life: its owner, its lease, its control, and the one `turn.finished` that ends it.

`start_turn` is called with a reply the services already created and a lease they already claimed
(`services.message_accept`). The turn runs as a task of its own, decoupled from any socket, and
whatever happens (a stop, a provider failure, a bug, a set-up failure, SIGTERM) it ends by storing
its last message in a final state, releasing the lease and publishing `turn.finished`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings

from chat import conversations, frames, logcontext, metrics, offloop, services, voice
from chat.models import Message
from chat.personas import Speaker
from chat.turns import control, leases
from chat.turns.fanout import publish
from chat.turns.rounds import OUR_FAULT, Rounds

log = logging.getLogger(__name__)

READING_STOPPED = "Reading aloud was stopped."

_running: dict[int, Turn] = {}


def running_turns() -> list[Turn]:
    return list(_running.values())


def start_turn(accepted: services.Accepted, *, speak: bool = False) -> Turn:
    """Start writing the reply the services created; the caller must not await it. `speak`: read it aloud at the end."""
    assert accepted.conversation is not None and accepted.reply is not None
    turn = Turn(accepted.conversation.pk, accepted.reply, accepted.token, accepted.speakers)
    turn.speak = speak
    turn.owner_id = accepted.conversation.owner_id
    _running[turn.conversation_id] = turn
    turn.task = asyncio.create_task(turn.run(), name=f"turn-{turn.conversation_id}")
    turn.task.add_done_callback(turn.ended)
    return turn


Announce = Callable[[services.Accepted], Awaitable[None]]


async def accept(
    *, owner: Any, conversation_id: int | None, text: str, client_id: str, announce: Announce,
    persona_ids: list[int] | None = None, rounds: int = 1, speak: bool = False,
    audio: services.AudioFile | None = None, edit_of: int | None = None,
) -> services.Accepted:
    """A person's message, from the socket or the API: stored and its reply started, whatever the caller does.

    `services.message_accept` stores the message and creates the reply in one transaction. For a
    new or resent message `announce` then tells the caller's clients, and a created reply's turn
    starts even if the caller is cancelled (its socket closed, its HTTP client gone) at any point:
    the reply row exists, and only a turn finishes it. `edit_of`: the message is a new version of that one.
    """
    return await _claimed(database_sync_to_async(services.message_accept)(
        owner=owner, conversation_id=conversation_id, text=text, client_id=client_id, token=uuid.uuid4().hex,
        lease_seconds=settings.CHAT_TURN_LEASE_SECONDS, max_replies=settings.CHAT_MAX_CONCURRENT_REPLIES,
        persona_ids=persona_ids, rounds=rounds, audio=audio, edit_of=edit_of,
    ), announce, speak, metrics.message_send)


async def regenerate(
    *, owner: Any, conversation_id: int, client_id: str, announce: Announce, speak: bool = False,
) -> services.Accepted:
    """The last reply written again, as `accept` starts one: the earlier reply stays as a version of it."""
    return await _claimed(database_sync_to_async(services.reply_regenerate)(
        owner=owner, conversation_id=conversation_id, client_id=client_id, token=uuid.uuid4().hex,
        lease_seconds=settings.CHAT_TURN_LEASE_SECONDS, max_replies=settings.CHAT_MAX_CONCURRENT_REPLIES,
    ), announce, speak, metrics.regeneration)


async def _claimed(
    claim: Awaitable[services.Accepted], announce: Announce, speak: bool, counted: Callable[[str], None],
) -> services.Accepted:
    accepting = asyncio.ensure_future(claim)
    try:
        accepted = await metrics.db_save("accept", asyncio.shield(accepting))
    except asyncio.CancelledError:
        accepting.add_done_callback(functools.partial(start_if_created, speak=speak))
        raise
    counted(accepted.outcome)
    if accepted.outcome not in (services.Outcome.CREATED, services.Outcome.RESENT):
        return accepted
    try:
        await announce(accepted)
    finally:
        if accepted.outcome is services.Outcome.CREATED:
            start_turn(accepted, speak=speak)
    return accepted


def start_if_created(accepting: asyncio.Future[services.Accepted], *, speak: bool = False) -> None:
    """A done-callback for an accept whose caller went away (socket closed, HTTP client gone): a reply it
    created must still be written."""
    if accepting.cancelled() or accepting.exception() is not None:
        return
    if accepting.result().outcome is services.Outcome.CREATED:
        start_turn(accepting.result(), speak=speak)


_finishing: set[asyncio.Task[None]] = set()


async def finish_pending() -> None:
    """Wait (bounded) for the ends of turns that were cancelled before they began."""
    if _finishing:
        await asyncio.wait(list(_finishing), timeout=settings.CHAT_SHUTDOWN_SECONDS)


class Turn:
    """One answer to a person's message: each speaker's rounds in order, under one lease, ended by one frame.

    With personas, `speakers` are the participants who answer, in order (chat/personas.py `schedule`);
    only one writes at a time, each is announced with `participant.typing`, and a stop ends the
    speaker writing and every speaker after it.
    """

    def __init__(self, conversation_id: int, reply: Message, token: str, speakers: Sequence[Speaker] = ()) -> None:
        self.conversation_id = conversation_id
        self.id = logcontext.new_id()  # for log lines only; the lease token stays out of the logs
        self.token = token
        self.speakers = list(speakers) or [Speaker.default()]
        self.rounds = Rounds(conversation_id, reply, self.speakers[0])
        self.spoken: list[Rounds] = []  # the speakers done before the one in `rounds`
        self.task: asyncio.Task[None] | None = None
        self.began = False
        self._work: asyncio.Task[None] | None = None
        self._desk: control.ControlDesk | None = None
        self.owner_id: int | None = None  # whose sidebars mark the conversation while the reply is written
        self.speak = False  # read the last reply aloud before the turn ends (chat/voice.py)
        self._reading: asyncio.Task[dict[str, Any]] | None = None  # the reading aloud, while it runs

    async def run(self) -> None:
        self.began = True
        logcontext.bind(conversation_id=self.conversation_id, turn_id=self.id)  # this task's context only
        log.info("Turn started: %d speaker(s)", len(self.speakers))
        try:
            await self._typing(self.speakers[0])
            await publish(self.conversation_id, frames.assistant_started(self.rounds.current))  # type: ignore[arg-type]
            await self._tell_owner(writing=True)
            self._desk = await control.desk()
            await self._desk.join(self.conversation_id, self.on_control)
            leases.hold(self.token, self.conversation_id, self._lease_lost)
            self._work = asyncio.create_task(self._speak_all())
            try:
                await asyncio.shield(self._work)
            except asyncio.CancelledError:
                self._work.cancel()  # the process is going away: stop the reply, store it as stopped
                await asyncio.wait([self._work], timeout=settings.CHAT_SHUTDOWN_SECONDS)
                raise
            if self.speak:
                await self._read_aloud()
        except Exception:
            log.exception("Turn in conversation %s failed to start", self.conversation_id)
        finally:
            leases.release(self.token)
            await asyncio.shield(self._finish())

    async def _read_aloud(self) -> None:
        """The turn's last complete reply, read aloud and stored with it, announced before `turn.finished`.

        A stop while it is read (`turn.stop`) ends the reading: the reply stays complete, and its
        `assistant.audio` says the reading was stopped.
        """
        if self.outcome()[0] == Message.Status.STOPPED:
            return
        reply = next((r.last_reply for r in reversed([*self.spoken, self.rounds]) if r.last_reply is not None), None)
        if reply is None:
            return
        self._reading = asyncio.create_task(voice.speak(reply))
        try:
            frame = await asyncio.shield(self._reading)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._reading.cancelled() or (task is not None and task.cancelling()):
                self._reading.cancel()  # the turn itself is being cancelled (shutdown)
                raise
            frame = frames.assistant_audio(reply, error=READING_STOPPED)
        await publish(self.conversation_id, frame)

    async def _speak_all(self) -> None:
        """Each speaker's rounds in turn. One whose providers all fail is stored failed and the next one goes on."""
        await self.rounds.run()
        for speaker in self.speakers[1:]:
            if self.rounds.status == Message.Status.STOPPED:
                return
            self.spoken.append(self.rounds)
            self.rounds = Rounds(
                self.conversation_id, None, speaker, last_seq=self.rounds.last_seq, meter=self.rounds.meter
            )
            try:
                await self._typing(speaker)
            except asyncio.CancelledError:
                self.rounds.status = Message.Status.STOPPED  # stopped before this speaker wrote anything
                return
            await self.rounds.run()

    async def _typing(self, speaker: Speaker) -> None:
        if len(self.speakers) > 1 and speaker.participant_id is not None:
            await publish(
                self.conversation_id, frames.participant_typing(self.conversation_id, speaker.participant_id, speaker.name)
            )

    def outcome(self) -> tuple[str, str]:
        """How the turn ended: stopped if it was stopped, failed if every speaker failed, complete otherwise."""
        everyone = [*self.spoken, self.rounds]
        if any(r.status == Message.Status.STOPPED for r in everyone):
            return Message.Status.STOPPED, ""
        if all(r.status == Message.Status.FAILED for r in everyone):
            return Message.Status.FAILED, self.rounds.error
        return Message.Status.COMPLETE, ""

    async def _finish(self) -> None:
        rounds = self.rounds
        try:
            await rounds.settle()
            if rounds.current is not None:  # set-up failed, or the work did not end in time
                await rounds.end_current(Message.Status.FAILED, OUR_FAULT)
        except Exception:
            log.exception("Turn in conversation %s could not store its last message", self.conversation_id)
        self.forget()
        # Clean-up is bounded: a database or Redis call that stalls (a socket timeout is 30 s) must not
        # hold back `turn.finished`. A lease left behind expires; a stale desk membership is ignored.
        bound = settings.CHAT_SHUTDOWN_SECONDS
        with contextlib.suppress(Exception):
            await asyncio.wait_for(database_sync_to_async(services.turn_lease_release)(
                conversation_id=self.conversation_id, token=self.token
            ), bound)
        if self._desk is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._desk.leave(self.conversation_id), bound)
        status, error = self.outcome()
        log.info("Turn finished: %s", status)
        rounds.meter.finished(status)
        await publish(self.conversation_id, frames.turn_finished(self.conversation_id, rounds.last_seq, status, error))
        await self._tell_owner(writing=False)

    async def _tell_owner(self, *, writing: bool) -> None:
        """Every tab of the person marks the conversation in its sidebar while its reply is written."""
        if self.owner_id is None:
            return
        frame = {"type": "conversation.writing", "conversation_id": self.conversation_id, "writing": writing}
        try:
            await conversations.publish_to_person(self.owner_id, frame)
        except Exception:
            log.warning("Could not tell person %s about conversation %s", self.owner_id, self.conversation_id, exc_info=True)

    def forget(self, _: Any = None) -> None:
        if _running.get(self.conversation_id) is self:
            del _running[self.conversation_id]

    def ended(self, task: asyncio.Task[None]) -> None:
        """The task's done callback. A task cancelled before its first step never ran its `finally`:
        the reply it was given must still be stored as stopped, the lease released and the end announced."""
        self.forget()
        if not self.began:
            self.rounds.status = Message.Status.STOPPED
            finishing = asyncio.get_running_loop().create_task(self._finish_unstarted())
            _finishing.add(finishing)
            finishing.add_done_callback(_finishing.discard)

    async def _finish_unstarted(self) -> None:
        logcontext.bind(conversation_id=self.conversation_id, turn_id=self.id)
        await self.rounds.end_current(Message.Status.STOPPED, "")
        self.rounds.current = None
        await self._finish()

    async def on_control(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "turn.stop" and self._work is not None and not self._work.done():
            self._work.cancel()
        elif kind == "turn.stop" and self._reading is not None:
            self._reading.cancel()  # the reply is written: the stop ends its reading aloud
        elif kind == "turn.confirm":
            self.rounds.confirm(str(event.get("call_id", "")), bool(event.get("allow")))
        elif kind == "turn.sync" and self._desk is not None:
            try:
                for frame in self.rounds.snapshot():
                    await self._desk.layer.send(event["reply_channel"], {"type": "chat.frame", "frame": frame})
            except ChannelFull:  # that socket is still far behind: assistant.completed brings it the whole text
                log.info("A resync answer did not fit its socket's channel")

    def _lease_lost(self) -> None:
        """Another process swept this turn's lease (it looked dead) or took the conversation over: stop."""
        if self._work is not None:
            self._work.cancel()


# --- turns whose process died, and this process going away ---------------------------------------

_sweeper: asyncio.Task[None] | None = None


def ensure_sweeper() -> None:
    """Start this process's periodic sweep of expired leases (its first pass runs at once)."""
    global _sweeper
    loop = asyncio.get_running_loop()
    if _sweeper is None or _sweeper.done() or _sweeper.get_loop() is not loop:
        _sweeper = loop.create_task(_sweep_forever(), name="turn-lease-sweeper")


async def stop_sweeper() -> None:
    """Stop this process's sweep (shutdown, and the end of each test: it must not wake in the next one)."""
    global _sweeper
    sweeper, _sweeper = _sweeper, None
    if sweeper is not None and not sweeper.done():
        sweeper.cancel()
        await asyncio.wait([sweeper], timeout=settings.CHAT_SHUTDOWN_SECONDS)


async def _sweep_forever() -> None:
    while True:
        try:
            await sweep()
        except Exception:
            log.exception("Sweeping expired turn leases failed")
        await asyncio.sleep(settings.CHAT_TURN_SWEEP_SECONDS)


async def sweep(conversation_id: int | None = None) -> int:
    """Mark the replies of dead turns interrupted and tell their tabs; returns how many messages."""
    marked = await database_sync_to_async(services.turn_sweep)(conversation_id=conversation_id, alive=list(_running))
    if marked:
        messages = await database_sync_to_async(list)(Message.objects.filter(pk__in=marked).order_by("conversation", "seq"))
        for message in messages:
            await publish(message.conversation_id, frames.replay(message)[-1])
        for cid in sorted({m.conversation_id for m in messages}):
            last_seq = max(m.seq for m in messages if m.conversation_id == cid)
            await publish(cid, frames.turn_finished(cid, last_seq, Message.Status.FAILED, services.INTERRUPTED))
        log.warning("Marked %d messages of dead turns as interrupted", len(marked))
    return len(marked)


async def shutdown() -> None:
    """Stop every running turn (stored as stopped), then close MCP sessions and the control desk; bounded."""
    from chat import tools

    await stop_sweeper()
    tasks = [turn.task for turn in running_turns() if turn.task is not None]
    log.info("Shutting down: stopping %d running turns", len(tasks))
    for task in tasks:
        task.cancel()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=settings.CHAT_SHUTDOWN_SECONDS)
        if pending:
            log.warning("%d turns did not finish stopping within %s s", len(pending), settings.CHAT_SHUTDOWN_SECONDS)
    await finish_pending()
    await leases.stop()
    # The calculator's and the PDF extractor's worker processes wait for work forever, and
    # multiprocessing's exit handler joins them: left running, they kept the process from exiting.
    offloop.shutdown()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1):
            await tools.close_hub()
    await control.close_desk()
    with contextlib.suppress(Exception):  # under Redis: leave every group, so no process sends here any more
        async with asyncio.timeout(1):
            await get_channel_layer().close()


def install_shutdown_hook() -> bool:
    """Under daphne, run `shutdown` when the server stops (SIGTERM, Ctrl-C), before its loop ends.

    Daphne has no ASGI lifespan; it stops through Twisted's reactor, whose "before shutdown"
    triggers it waits for. Returns False when not running under a Twisted reactor.
    """
    import sys

    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None:
        return False
    from twisted.internet import defer

    def before_shutdown() -> defer.Deferred[None]:
        return defer.Deferred.fromFuture(asyncio.ensure_future(shutdown()))

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)  # type: ignore[attr-defined]
    reactor.addSystemEventTrigger("after", "shutdown", _exit_now)  # type: ignore[attr-defined]
    return True


def _exit_now() -> None:
    """Leave without the interpreter's teardown once the server has stopped and everything is stored.

    With the reactor stopped, coroutines of cancelled tasks are still alive; Python's finalization
    then collects them after extension modules are half torn down, and the process died with
    SIGSEGV in about one SIGTERM in five ("Garbage-collecting" in asyncio/queues.py, seen with
    PYTHONFAULTHANDLER). Nothing is left to do by then: exit handlers run and logs are flushed
    here, then the process ends with status 0 as a clean stop should.
    """
    import atexit
    import os
    import sys

    atexit._run_exitfuncs()  # prometheus_client's multiprocess clean-up, among others
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)
