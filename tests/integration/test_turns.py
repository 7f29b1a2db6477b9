"""The turn engine's promises, through the routed application: one owner, one end, nothing lost."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from channels import db as channels_db
from channels.db import database_sync_to_async
from django.test import override_settings

from chat import services, turns
from chat.consumers import ChatConsumer
from chat.models import Conversation, Message
from chat.tools.hub import Hub
from chat.turns import control
from chat.turns.fanout import ReplyText
from tests.support import wire
from tests.support.providers import OPENAI_URL, SCRIPTED
from tests.support.scripted_model import ScriptedModel, probe_hub
from tests.support.socket import (
    communicator,
    connected,
    final_reply,
    of_type,
    receive_frame,
    receive_turn,
    reply_text,
    run_turn,
    send,
    send_message,
    session_cookie,
)
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def conversation_of(user: Any, text: str = "hello") -> Conversation:
    return services.conversation_create(owner=user, first_text=text)


async def test_a_failure_in_turn_set_up_fails_the_reply_and_leaves_the_conversation_usable(user, monkeypatch):
    real_desk = control.desk

    async def broken_desk() -> Any:
        raise RuntimeError("the channel layer is down")

    monkeypatch.setattr(control, "desk", broken_desk)
    async with connected(user) as comm:
        frames = await run_turn(comm, "hello")
        monkeypatch.setattr(control, "desk", real_desk)
        conversation_id = frames[-1]["conversation_id"]
        again = await run_turn(comm, "hello again", conversation_id=conversation_id)

    assert (frames[-1]["status"], final_reply(frames)["status"]) == ("failed", "failed")
    assert final_reply(again)["status"] == "complete"
    assert [(m.role, m.status) for m in await stored(conversation_id)] == [
        ("user", "complete"), ("assistant", "failed"), ("user", "complete"), ("assistant", "complete"),
    ]


async def test_a_tool_that_raises_is_stored_as_failed_with_its_error_and_the_model_is_told(
    user, model: ScriptedModel, monkeypatch
):
    model.calls("probe__echo", {"text": "hi"}).says("The tool broke.")

    async def exploding_call(self: Hub, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        raise RuntimeError("disk on fire")

    async with probe_hub() as (hub, _):
        monkeypatch.setattr(type(hub), "call", exploding_call)
        async with connected(user) as comm:
            frames = await run_turn(comm, "echo hi")

    finished = of_type(frames, "tool.finished")[0]
    assert (finished["is_error"], finished["kind"]) == (True, "error")
    assert "RuntimeError: disk on fire" in finished["result"]
    assert "disk on fire" in model.tool_message(1)
    assert (frames[-1]["type"], final_reply(frames)["text"]) == ("turn.finished", "The tool broke.")
    tool = (await stored(frames[-1]["conversation_id"]))[2]
    assert (tool.role, tool.status, tool.is_error) == ("tool", "failed", True) and "disk on fire" in tool.content


@pytest.mark.parametrize("ending", ["text", "tool", "provider error", "stop"])
async def test_every_turn_ends_with_exactly_one_turn_finished(user, model: ScriptedModel, ending: str):
    if ending == "text":
        model.says("Plain answer.")
    elif ending == "tool":
        model.calls("builtin__calculator", {"expression": "2+2"}).says("It is 4.")
    async with connected(user) as comm:
        frames: list[dict[str, Any]] = []
        if ending == "stop":
            with override_settings(DEMO_TOKEN_DELAY_SECONDS=0.05, LLM_PROVIDERS=""):
                await send_message(comm, "tell me a long story")
                first = await receive_frame(comm, "assistant.delta", seen=frames)
                await send(comm, "generation.stop", conversation_id=first["conversation_id"])
                await receive_turn(comm, seen=frames)
        else:
            frames = await run_turn(comm, "go")
        assert await comm.receive_nothing(timeout=0.3), "a frame came after turn.finished"

    ends = of_type(frames, "turn.finished")
    expected = {"text": "complete", "tool": "complete", "provider error": "failed", "stop": "stopped"}[ending]
    assert len(ends) == 1 and ends[0] is frames[-1]
    assert ends[0]["status"] == expected == final_reply(frames)["status"]
    rows = await stored(ends[0]["conversation_id"])
    assert ends[0]["seq"] == rows[-1].seq and all(m.status != "streaming" for m in rows)
    if ending == "provider error":
        assert ends[0]["error"] == final_reply(frames)["error"] == "fake: HTTP 500"


async def test_reopening_during_a_pending_confirmation_asks_again_and_allow_still_works(user, model: ScriptedModel):
    model.calls("probe__delete_file", {"path": "/tmp/a.txt"}).says("Deleted.")
    async with probe_hub(confirm=["delete_file"]) as (_, probe):
        async with connected(user) as first:
            await send_message(first, "delete /tmp/a.txt")
            asked = await receive_frame(first, "tool.confirmation_requested")
        async with connected(user) as reloaded:
            seen: list[dict[str, Any]] = []
            await send(reloaded, "conversation.open", conversation_id=asked["conversation_id"], last_seq=0)
            again = await receive_frame(reloaded, "tool.confirmation_requested", seen=seen)
            assert probe.calls == []
            await send(reloaded, "tool.confirm", conversation_id=again["conversation_id"], call_id=again["call_id"],
                       allow=True)
            await receive_turn(reloaded, seen=seen)

    assert (again["call_id"], again["seq"], again["arguments"]) == (asked["call_id"], asked["seq"], asked["arguments"])
    assert probe.calls == [("delete_file", {"path": "/tmp/a.txt"})]
    assert of_type(seen, "tool.finished")[0]["result"] == "deleted /tmp/a.txt"
    assert final_reply(seen)["text"] == "Deleted."


async def test_a_resend_after_reconnecting_is_acknowledged_and_starts_nothing(user):
    async with connected(user) as comm:
        frames = await run_turn(comm, "hello once")
    created = of_type(frames, "message.created")[0]
    async with connected(user) as reconnected:
        await send_message(reconnected, "hello once", conversation_id=created["conversation_id"],
                           client_id=created["client_id"])
        echo = await receive_frame(reconnected, "message.created")
        assert await reconnected.receive_nothing(timeout=0.3), "a resend started something"
    assert (echo["seq"], echo["client_id"]) == (1, created["client_id"])
    assert [m.role for m in await stored(created["conversation_id"])] == ["user", "assistant"]


async def test_two_thousand_tiny_chunks_at_once_reach_the_client_as_few_frames_with_the_exact_text(
    user, use_providers, mocked
):
    pieces = [chr(0x61 + i % 26) if i % 7 else "é" for i in range(2000)]
    use_providers(SCRIPTED)
    mocked.post(OPENAI_URL, body=wire.openai_sse(wire.openai_text_chunks(pieces)), headers=wire.SSE_HEADERS)
    async with connected(user) as comm:
        frames = await run_turn(comm, "chunks please")

    deltas = of_type(frames, "assistant.delta")
    assert 1 <= len(deltas) <= 20, f"{len(deltas)} delta frames for 2,000 chunks"
    assert reply_text(frames) == "".join(pieces) == final_reply(frames)["text"]
    assert (await stored(frames[-1]["conversation_id"]))[1].content == "".join(pieces)


async def test_two_sends_into_one_idle_conversation_at_the_same_instant_give_one_reply_and_one_busy(user):
    conversation = await conversation_of(user)
    with override_settings(DEMO_TOKEN_DELAY_SECONDS=0.01):
        async with connected(user) as first, connected(user) as second:
            await asyncio.gather(
                send_message(first, "from the first tab", conversation.pk, client_id="tab-1"),
                send_message(second, "from the second tab", conversation.pk, client_id="tab-2"),
            )
            answers = [await _first_answer(c) for c in (first, second)]
            winner = first if answers[0]["type"] == "message.created" else second
            await receive_turn(winner)

    assert sorted(a["type"] for a in answers) == ["error", "message.created"]
    assert next(a for a in answers if a["type"] == "error")["code"] == "busy"
    rows = await stored(conversation.pk)
    assert [m.role for m in rows] == ["user", "assistant"] and rows[1].status == "complete"


async def _first_answer(comm: Any) -> dict[str, Any]:
    """The frame that answers a send: message.created, or the error refusing it."""
    async with asyncio.timeout(5):
        while True:
            frame = json.loads(await comm.receive_from(timeout=5))
            if frame["type"] in ("message.created", "error"):
                return frame


async def test_a_burst_of_twenty_new_conversations_gets_every_acknowledgement(user, settings):
    settings.CHAT_RATE_LIMIT_MESSAGES = 100
    settings.CHAT_MAX_CONCURRENT_REPLIES = 100
    async with connected(user) as comm:
        for n in range(20):
            await send_message(comm, f"question {n}", client_id=f"burst-{n}")
        acknowledged: set[str] = set()
        seen: list[dict[str, Any]] = []
        while len(acknowledged) < 20:
            frame = await receive_frame(comm, "message.created", seen=seen, timeout=10)
            acknowledged.add(frame["client_id"])
    assert acknowledged == {f"burst-{n}" for n in range(20)}
    assert await database_sync_to_async(Conversation.objects.filter(owner=user).count)() == 20


async def test_another_persons_streaming_conversation_is_not_found_like_a_missing_one(user, other_user):
    with override_settings(DEMO_TOKEN_DELAY_SECONDS=0.05):
        async with connected(user) as owner, connected(other_user) as intruder:
            await send_message(owner, "tell me a long story")
            streaming = await receive_frame(owner, "assistant.delta")
            answers = []
            for conversation_id in (streaming["conversation_id"], streaming["conversation_id"] + 1000):
                await send_message(intruder, "let me in", conversation_id=conversation_id)
                answers.append(await receive_frame(intruder, "error"))
            await send(owner, "generation.stop", conversation_id=streaming["conversation_id"])
            await receive_turn(owner)
    assert [(a["code"], a["message"]) for a in answers] == [("not_found", "No such conversation.")] * 2


async def test_a_stop_answers_every_tool_call_of_the_round_with_one_stored_tool_message(user, model: ScriptedModel):
    model.calls_several(
        ("probe__delete_file", {"path": "/tmp/a.txt"}, "call_a"), ("probe__echo", {"text": "hi"}, "call_b")
    )
    async with probe_hub(confirm=["delete_file"]) as (_, probe), connected(user) as comm:
        frames: list[dict[str, Any]] = []
        await send_message(comm, "delete and echo")
        asked = await receive_frame(comm, "tool.confirmation_requested", seen=frames)
        await send(comm, "generation.stop", conversation_id=asked["conversation_id"])
        await receive_turn(comm, seen=frames)

    assert probe.calls == []
    assert frames[-1]["status"] == "stopped"
    assert [(f["call_id"], f["kind"]) for f in of_type(frames, "tool.finished")] == [("call_a", "stopped"), ("call_b", "stopped")]
    rows = await stored(asked["conversation_id"])
    assert [c["id"] for c in rows[1].tool_calls] == ["call_a", "call_b"]
    tools = [(m.tool_call_id, m.status, m.is_error) for m in rows if m.role == "tool"]
    assert tools == [("call_a", "stopped", True), ("call_b", "stopped", True)]
    assert rows[-1].content.startswith("Not run") and frames[-1]["seq"] == rows[-1].seq


async def test_replies_being_written_at_once_are_limited_per_person_across_conversations(user, other_user, settings):
    settings.CHAT_MAX_CONCURRENT_REPLIES = 2
    with override_settings(DEMO_TOKEN_DELAY_SECONDS=0.05):
        async with connected(user) as tab1, connected(user) as tab2, connected(user) as tab3, \
                connected(other_user) as someone_else:
            for tab in (tab1, tab2):  # two replies being written, in two conversations
                await send_message(tab, "a long story")
                await receive_frame(tab, "assistant.delta")
            await send_message(tab3, "one too many", client_id="third")
            refused = await receive_frame(tab3, "error")
            # Short replies (the demo's calculator answer) for the turns that only need to complete.
            theirs = await run_turn(someone_else, "what is 6*7", timeout=15)
            for tab in (tab1, tab2):
                await receive_turn(tab, timeout=15)
            await send_message(tab3, "what is 1+1", client_id="fourth")
            room = await receive_frame(tab3, "message.created")
            await receive_turn(tab3, timeout=15)
    assert (refused["code"], refused["client_id"]) == ("rate_limited", "third")
    assert "2 replies being written" in refused["message"]
    assert theirs[-1]["status"] == "complete" and room["client_id"] == "fourth"
    assert not await database_sync_to_async(Message.objects.filter(client_id="third").exists)()


async def test_a_turn_cancelled_before_it_began_still_stores_its_reply_as_stopped_and_frees_the_conversation(user):
    accept = database_sync_to_async(services.message_accept)
    accepted = await accept(owner=user, conversation_id=None, text="hi", client_id="early", token="t-early",
                            lease_seconds=30)
    turn = turns.start_turn(accepted)
    turn.task.cancel()  # at once, before the task's first step: its own try/finally never runs
    await asyncio.wait([turn.task], timeout=5)
    await turns.finish_pending()

    rows = await stored(accepted.conversation.pk)
    assert [(m.role, m.status) for m in rows] == [("user", "complete"), ("assistant", "stopped")]
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=accepted.conversation.pk)
    assert conversation.turn_token == "" and turns.running_turns() == []


@pytest.mark.parametrize("closes_while", ["storing the message", "acknowledging it"])
async def test_a_socket_that_closes_while_its_message_is_accepted_still_gets_the_reply_written(
    user, monkeypatch, closes_while: str
):
    conversation = await conversation_of(user)
    armed, reached, release = threading.Event(), threading.Event(), threading.Event()
    if closes_while == "storing the message":
        real_accept = services.message_accept

        def slow_accept(**kwargs: Any) -> services.Accepted:
            armed.wait(5)
            reached.set()
            release.wait(5)
            return real_accept(**kwargs)

        monkeypatch.setattr(services, "message_accept", slow_accept)
    else:
        real_follow = ChatConsumer._follow

        async def slow_follow(self: ChatConsumer, conversation_id: int | None) -> None:
            if armed.is_set():
                reached.set()
                await asyncio.to_thread(release.wait, 5)
            await real_follow(self, conversation_id)

        monkeypatch.setattr(ChatConsumer, "_follow", slow_follow)

    async with connected(user) as watcher:
        await send(watcher, "conversation.open", conversation_id=conversation.pk)
        await receive_frame(watcher, "conversation.opened")
        armed.set()
        sender = communicator(await session_cookie(user))
        assert (await sender.connect(timeout=5))[0]
        await send_message(sender, "and then?", conversation_id=conversation.pk)
        assert await asyncio.to_thread(reached.wait, 5)
        sender.future.cancel()  # the socket's consumer is gone mid-accept, as when its server drops it
        release.set()
        finished = await receive_frame(watcher, "turn.finished")

    assert finished["status"] == "complete"
    assert [(m.role, m.status) for m in await stored(conversation.pk)][-2:] == [
        ("user", "complete"), ("assistant", "complete"),
    ]


async def test_relaying_frames_to_a_socket_costs_no_trip_to_the_database_thread(user, monkeypatch):
    conversation = await conversation_of(user)
    trips = []
    real_close = channels_db.close_old_connections
    monkeypatch.setattr(channels_db, "close_old_connections", lambda: trips.append(1) or real_close())
    async with connected(user) as comm:
        await send(comm, "conversation.open", conversation_id=conversation.pk)
        await receive_frame(comm, "conversation.opened")
        before = len(trips)
        for n in range(50):
            delta = {"type": "assistant.delta", "conversation_id": conversation.pk, "seq": 2, "offset": n, "text": "x"}
            await turns.publish(conversation.pk, delta)
        for n in range(50):
            await receive_frame(comm, "assistant.delta", where=lambda frame, n=n: frame["offset"] == n)
        assert len(trips) - before == 0, "each relayed frame went through channels' database thread"


async def test_a_stop_while_the_reply_is_being_ended_still_stores_it_complete(user, model: ScriptedModel, monkeypatch):
    model.says("All of it.")
    ending, release = asyncio.Event(), asyncio.Event()
    real_flush = ReplyText.flush

    async def slow_flush(self: ReplyText) -> None:  # the last delta is slow to go out, as over a busy Redis
        ending.set()
        await asyncio.wait_for(release.wait(), timeout=5)
        await real_flush(self)

    stopped, real_on_control = asyncio.Event(), turns.Turn.on_control

    async def on_control(self: turns.Turn, event: dict[str, Any]) -> None:
        await real_on_control(self, event)
        if event.get("type") == "turn.stop":
            stopped.set()

    monkeypatch.setattr(ReplyText, "flush", slow_flush)
    monkeypatch.setattr(turns.Turn, "on_control", on_control)
    async with connected(user) as comm:
        frames: list[dict[str, Any]] = []
        await send_message(comm, "tell me")
        created = await receive_frame(comm, "message.created", seen=frames)
        await asyncio.wait_for(ending.wait(), timeout=5)
        await send(comm, "generation.stop", conversation_id=created["conversation_id"])
        await asyncio.wait_for(stopped.wait(), timeout=5)
        release.set()
        await receive_turn(comm, seen=frames)

    rows = await stored(created["conversation_id"])
    assert [(m.role, m.status, m.content) for m in rows] == [
        ("user", "complete", "tell me"), ("assistant", "complete", "All of it."),
    ]
    assert final_reply(frames)["text"] == "All of it."


async def test_running_turns_renew_their_leases_together_and_a_turn_whose_lease_is_taken_stops(
    user, settings, monkeypatch
):
    """One UPDATE renews every lease this process holds (not one per turn), and a turn whose lease was
    swept or taken over by another process stops, while the others go on to complete."""
    settings.CHAT_TURN_LEASE_SECONDS = 0.3  # renewed every 0.1 s
    settings.CHAT_MAX_CONCURRENT_REPLIES = 5
    renewals: list[list[str]] = []
    three_renewed = asyncio.Event()
    loop = asyncio.get_running_loop()
    real = services.turn_leases_renew

    def spy(*, tokens: list[str], lease_seconds: float) -> set[str]:
        renewals.append(sorted(tokens))
        kept = real(tokens=tokens, lease_seconds=lease_seconds)
        if len(tokens) == 3:
            loop.call_soon_threadsafe(three_renewed.set)
        return kept

    monkeypatch.setattr(services, "turn_leases_renew", spy)
    with override_settings(DEMO_TOKEN_DELAY_SECONDS=0.05):
        async with connected(user) as tab1, connected(user) as tab2, connected(user) as tab3:
            tabs = (tab1, tab2, tab3)
            ids = []
            for tab in tabs:
                await send_message(tab, "a long story")
                ids.append((await receive_frame(tab, "assistant.delta"))["conversation_id"])
            await asyncio.wait_for(three_renewed.wait(), 5)
            renewed_while_three_ran = renewals[[len(batch) for batch in renewals].index(3):]
            await database_sync_to_async(Conversation.objects.filter(pk=ids[0]).update)(turn_token="another-process")
            ends = [await receive_turn(tab, timeout=20) for tab in tabs]
    tokens = await database_sync_to_async(
        lambda: dict(Conversation.objects.filter(pk__in=ids).values_list("pk", "turn_token"))
    )()
    assert [len(batch) for batch in renewed_while_three_ran if len(batch) != 3] == [], renewed_while_three_ran
    assert [end[-1]["status"] for end in ends] == ["stopped", "complete", "complete"], [end[-1] for end in ends]
    assert tokens == {ids[0]: "another-process", ids[1]: "", ids[2]: ""}  # its lease stays the other process's


async def test_a_reply_that_stalls_mid_way_is_stored_with_its_text_so_far_while_it_streams(user, use_providers, settings):
    """What a crash mid-reply would leave: within a save interval of the text stopping, the stored reply holds
    all of it, still `streaming` (the saves of all replies are written together, chat/turns/saver.py)."""
    from chat.turns.saver import group_commit
    from tests.support.fake_llm_server import FakeLLMServer, Hold, text_reply
    from tests.support.providers import PRIMARY

    settings.CHAT_SAVE_INTERVAL_SECONDS = 0.05
    commit, saved, texts = group_commit(), asyncio.Event(), []
    write = commit.write

    async def noted(contents: dict[int, str]) -> None:
        await write(contents)
        texts.extend(contents.values())
        if "Half of the reply, " in texts:
            saved.set()

    commit.write = noted
    try:
        with FakeLLMServer() as fake:
            use_providers({**PRIMARY, "base_url": fake.base_url})
            fake.script(text_reply("Half of ", "the reply, ", Hold("mid"), "then the rest."))
            async with connected(user) as comm:
                await send_message(comm, "hello")
                seen: list[dict[str, Any]] = []
                created = await receive_frame(comm, "message.created", seen=seen)
                await asyncio.to_thread(fake.wait_until_held, "mid")
                try:
                    await asyncio.wait_for(saved.wait(), 5)
                except TimeoutError:
                    pytest.fail(f"the text so far was never saved; interim saves wrote {texts!r}")
                (mid,) = [m for m in await stored(created["conversation_id"]) if m.role == "assistant"]
                fake.release("mid")
                frames = await receive_turn(comm, seen=seen)
    finally:
        commit.write = write
    assert (mid.status, mid.content) == ("streaming", "Half of the reply, ")
    assert final_reply(frames)["text"] == "Half of the reply, then the rest."
