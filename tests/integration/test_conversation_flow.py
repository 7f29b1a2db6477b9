"""A conversation between several AI participants, over the API and a socket together.

Participants are personas; each answers in turn through the same turn engine as a single reply,
with its own system prompt, provider preference and fallback, and every message is stored with
who wrote it. Providers are mocked at their real URLs in their real wire formats.
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat import selectors, services
from chat.models import Message
from tests.support import wire
from tests.support.api import bearer_client, post
from tests.support.providers import ANTHROPIC_URL, BACKUP, OPENAI_URL, PRIMARY, anthropic_text, bodies, openai_text
from tests.support.socket import connected, of_type, receive_frame, receive_turn, send
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def persona(owner: Any, name: str, **fields: Any) -> int:
    return services.persona_create(owner=owner, name=name, system_prompt=f"You are {name}.", **fields).pk


async def start_panel(user: Any, *persona_ids: int) -> tuple[Any, int]:
    """An API client and a new conversation with these participants, in this order."""
    client = await bearer_client(user)
    created = await post(client, "/conversations", {"title": "panel", "persona_ids": list(persona_ids)})
    assert created.status_code == 201, created.content
    return client, created.json()["id"]


async def follow_and_send(user: Any, client: Any, cid: int, text: str, **body: Any) -> list[dict[str, Any]]:
    """A tab following the conversation sees every frame of the turn an API send starts."""
    async with connected(user) as tab:
        await send(tab, "conversation.open", conversation_id=cid, last_seq=0)
        await receive_frame(tab, "conversation.opened")
        sent = await post(client, f"/conversations/{cid}/messages", {"text": text, **body})
        assert sent.status_code == 202, sent.content
        return await receive_turn(tab, timeout=15)


def speakers(frames: list[dict[str, Any]], kind: str) -> list[str]:
    return [f["participant"]["name"] for f in of_type(frames, kind)]


async def test_two_participants_answer_in_turn_each_announced_and_stored_with_its_name(user, use_providers, mocked):
    use_providers(PRIMARY)
    mocked.post(OPENAI_URL, body=openai_text("Ada ", "thinks ", "yes."))
    mocked.post(OPENAI_URL, body=openai_text("Bo ", "agrees."))
    ada, bo = await persona(user, "Ada"), await persona(user, "Bo")
    client, cid = await start_panel(user, ada, bo)

    frames = await follow_and_send(user, client, cid, "Shall we?")

    kinds = [(f["type"], f.get("participant", {}).get("name")) for f in frames
             if f["type"] in ("participant.typing", "assistant.started", "assistant.completed")]
    assert kinds == [
        ("participant.typing", "Ada"), ("assistant.started", "Ada"), ("assistant.completed", "Ada"),
        ("participant.typing", "Bo"), ("assistant.started", "Bo"), ("assistant.completed", "Bo"),
    ]
    for name in ("Ada", "Bo"):  # each is announced before its first token
        typing = next(i for i, f in enumerate(frames) if f["type"] == "participant.typing" and f["participant"]["name"] == name)
        started = next(f["seq"] for f in frames if f["type"] == "assistant.started" and f["participant"]["name"] == name)
        first_delta = next(i for i, f in enumerate(frames) if f["type"] == "assistant.delta" and f["seq"] == started)
        assert typing < first_delta
    assert (frames[-1]["type"], frames[-1]["status"]) == ("turn.finished", "complete")

    rows = await stored(cid)
    assert [(m.seq, m.role, m.speaker, m.content) for m in rows] == [
        (1, "user", "", "Shall we?"), (2, "assistant", "Ada", "Ada thinks yes."), (3, "assistant", "Bo", "Bo agrees."),
    ]
    assert rows[1].participant_id != rows[2].participant_id and None not in (rows[1].participant_id, rows[2].participant_id)

    ada_asked, bo_asked = bodies(mocked, OPENAI_URL)
    assert ada_asked["messages"][0]["content"].startswith("You are Ada.")
    assert ada_asked["messages"][1:] == [{"role": "user", "content": "Shall we?"}]
    assert bo_asked["messages"][0]["content"].startswith("You are Bo.") and "Ada" in bo_asked["messages"][0]["content"]
    assert bo_asked["messages"][1:] == [
        {"role": "user", "content": "Shall we?"}, {"role": "user", "content": "Ada: Ada thinks yes."}]


async def test_each_participant_falls_back_on_its_own_and_one_with_no_working_provider_fails_alone(
    user, use_providers, mocked
):
    use_providers(PRIMARY, BACKUP)
    mocked.post(OPENAI_URL, status=503)  # Ada, first choice
    mocked.post(ANTHROPIC_URL, body=anthropic_text("Ada ", "from the backup."))  # Ada falls back
    mocked.post(OPENAI_URL, status=503)  # Bo, first choice
    mocked.post(ANTHROPIC_URL, status=529, json={"type": "error", "error": {"type": "overloaded_error", "message": "x"}})
    mocked.post(OPENAI_URL, body=openai_text("Cy ", "here."))  # Cy
    ada = await persona(user, "Ada", provider="primary", model="gpt-special", temperature=0.2)
    bo, cy = await persona(user, "Bo"), await persona(user, "Cy")
    client, cid = await start_panel(user, ada, bo, cy)

    frames = await follow_and_send(user, client, cid, "Go")

    rows = {m.speaker: m for m in await stored(cid) if m.role == Message.Role.ASSISTANT}
    assert (rows["Ada"].status, rows["Ada"].provider, rows["Ada"].content) == ("complete", "backup", "Ada from the backup.")
    assert rows["Bo"].status == "failed" and "all 2 providers failed" in rows["Bo"].error
    assert (rows["Cy"].status, rows["Cy"].content) == ("complete", "Cy here.")
    assert [f["participant"]["name"] for f in of_type(frames, "participant.typing")] == ["Ada", "Bo", "Cy"]
    assert frames[-1]["status"] == "complete"  # the round went on past the failed participant

    openai_asked = bodies(mocked, OPENAI_URL)
    assert (openai_asked[0]["model"], openai_asked[0]["temperature"]) == ("gpt-special", 0.2)  # Ada's own choice
    assert (openai_asked[1]["model"], "temperature" in openai_asked[1]) == ("gpt-4o-mini", False)  # Bo: the config's
    anthropic_asked = bodies(mocked, ANTHROPIC_URL)
    assert anthropic_asked[0]["model"] == "claude-3-5-haiku-latest"  # the fallback asks its configured model


async def test_addressing_a_participant_by_name_makes_it_answer_first(user):
    ada, bo, cy = await persona(user, "Ada"), await persona(user, "Bo"), await persona(user, "Cy")
    client, cid = await start_panel(user, ada, bo, cy)

    frames = await follow_and_send(user, client, cid, "@cy then @Bo: hello")

    assert speakers(frames, "participant.typing") == ["Cy", "Bo", "Ada"]
    assert [m.speaker for m in await stored(cid) if m.role == Message.Role.ASSISTANT] == ["Cy", "Bo", "Ada"]


async def test_a_discussion_runs_the_rounds_asked_and_the_demo_model_speaks_in_each_voice(user):
    skeptic_and_teacher = await database_sync_to_async(_builtin_ids)("Skeptic", "Teacher")
    client, cid = await start_panel(user, *skeptic_and_teacher)

    frames = await follow_and_send(user, client, cid, "Is coffee good for you?", rounds=2)

    replies = [m for m in await stored(cid) if m.role == Message.Role.ASSISTANT]
    assert [m.speaker for m in replies] == ["Skeptic", "Teacher", "Skeptic", "Teacher"]
    assert all(m.status == "complete" for m in replies)
    assert replies[0].content.startswith("Skeptic here. Let me push back a little.")
    assert replies[1].content.startswith("Teacher here. Let's take it step by step.")
    assert frames[-1]["seq"] == replies[-1].seq


def _builtin_ids(*names: str) -> list[int]:
    services.personas_ensure_builtin()
    from chat.models import Persona

    by_name = dict(Persona.objects.filter(owner=None, name__in=names).values_list("name", "pk"))
    return [by_name[name] for name in names]


async def test_a_stop_in_the_middle_of_a_round_ends_it_and_no_later_participant_writes(user, settings):
    settings.DEMO_TOKEN_DELAY_SECONDS = 0.05
    ada, bo = await persona(user, "Ada"), await persona(user, "Bo")
    client, cid = await start_panel(user, ada, bo)
    async with connected(user) as tab:
        await send(tab, "conversation.open", conversation_id=cid, last_seq=0)
        await receive_frame(tab, "conversation.opened")
        assert (await post(client, f"/conversations/{cid}/messages", {"text": "hello"})).status_code == 202
        seen: list[dict[str, Any]] = []
        await receive_frame(tab, "assistant.delta", seen=seen)
        assert (await post(client, f"/conversations/{cid}/stop")).status_code == 202
        frames = await receive_turn(tab, seen=seen)

    assert frames[-1]["status"] == "stopped"
    rows = await stored(cid)
    assert [(m.role, m.speaker, m.status) for m in rows] == [("user", "", "complete"), ("assistant", "Ada", "stopped")]
    assert rows[1].content  # the text written before the stop is kept
    assert speakers(frames, "participant.typing") == ["Ada"]


async def test_participants_are_chosen_when_a_conversation_starts_over_the_socket_too(user):
    ada, bo = await persona(user, "Ada"), await persona(user, "Bo")
    async with connected(user) as tab:
        await send(tab, "message.send", client_id="c1", text="hi both", persona_ids=[ada, bo])
        frames = await receive_turn(tab, timeout=15)
        cid = frames[-1]["conversation_id"]
        await send(tab, "message.send", client_id="c2", text="again", conversation_id=cid, persona_ids=[ada])
        refused = await receive_frame(tab, "error")
    assert speakers(frames, "assistant.completed") == ["Ada", "Bo"]
    # the send that made the conversation announces its participants as any later read shows them
    announced = of_type(frames, "conversation.created")[0]["participants"]
    assert [p["name"] for p in announced] == ["Ada", "Bo"]
    assert announced == await database_sync_to_async(selectors.participants_brief)(conversation_id=cid)
    assert (refused["code"], refused["client_id"]) == ("invalid_frame", "c2")
    assert "chosen when a conversation starts" in refused["message"]
    assert len(await stored(cid)) == 3


async def test_a_participant_sees_the_others_replies_but_not_their_tool_calls_and_only_its_own_tools(
    user, use_providers, mocked
):
    use_providers(PRIMARY)
    mocked.post(OPENAI_URL, body=wire.openai_sse(
        wire.openai_tool_call_chunks("call_1", "builtin__calculator", ['{"expression": ', '"6*7"}'])))
    mocked.post(OPENAI_URL, body=openai_text("It is ", "42."))
    mocked.post(OPENAI_URL, body=openai_text("Bo ", "checked."))
    ada, bo = await persona(user, "Ada"), await persona(user, "Bo", tools=[])
    client, cid = await start_panel(user, ada, bo)

    await follow_and_send(user, client, cid, "What is six sevens?")

    rows = await stored(cid)
    assert [(m.role, m.speaker) for m in rows] == [
        ("user", ""), ("assistant", "Ada"), ("tool", "Ada"), ("assistant", "Ada"), ("assistant", "Bo")]
    ada_first, ada_second, bo_asked = bodies(mocked, OPENAI_URL)
    assert "builtin__calculator" in {t["function"]["name"] for t in ada_first["tools"]}
    assert [m["role"] for m in ada_second["messages"]] == ["system", "user", "assistant", "tool"]  # its own call
    assert "tools" not in bo_asked  # Bo may use no tools
    assert bo_asked["messages"][1:] == [
        {"role": "user", "content": "What is six sevens?"}, {"role": "user", "content": "Ada: It is 42."}]
