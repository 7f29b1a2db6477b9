"""Versions and branches: regenerate a reply, edit a message and send it again, switch versions.

Over the socket and the API, against a scripted model at its real URL: the stored tree stays clean
(chat/branches.py `problems`, which the integrity check also runs after every test), nothing is
deleted, every tab is told, and what the model is sent next follows the branch shown.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat import branches
from chat.models import Conversation
from tests.support.api import API, assert_problem, client_of, post
from tests.support.socket import connected, of_type, receive_frame, receive_turn, run_turn, send
from tests.support.stored import leased, stored

pytestmark = pytest.mark.django_db(transaction=True)


def sent_dialogue(request: dict[str, Any]) -> list[tuple[str, str]]:
    """What the model was sent after the system prompt: (role, text) of each message."""
    return [(m["role"], m.get("content") or "") for m in request["messages"] if m["role"] != "system"]


def shown(rows: list[Any]) -> list[tuple[int, str, str]]:
    return [(m.seq, m.role, m.content) for m in rows if m.shown]


@database_sync_to_async
def tree_problems(conversation_id: int) -> list[str]:
    conversation = Conversation.objects.get(pk=conversation_id)
    return branches.problems(conversation, list(conversation.messages.order_by("seq")))


async def conversation_with(comm: Any, *questions: str) -> int:
    """A conversation of these questions, each answered to the end."""
    frames = await run_turn(comm, questions[0])
    cid = frames[-1]["conversation_id"]
    for question in questions[1:]:
        await run_turn(comm, question, cid)
    return cid


async def regenerate(comm: Any, cid: int, client_id: str | None = None) -> list[dict[str, Any]]:
    await send(comm, "message.regenerate", conversation_id=cid, client_id=client_id or uuid.uuid4().hex)
    return await receive_turn(comm)


async def test_a_regenerated_reply_keeps_the_earlier_one_and_the_next_request_follows_the_version_shown(user, model):
    model.says("Paris.").says("Paris, on the Seine.").says("About two million.").says("Over two million.")
    async with connected(user) as comm:
        cid = await conversation_with(comm, "Capital of France?")
        frames = await regenerate(comm, cid, "again-1")

        branched = frames[0]
        assert (branched["type"], branched["after_seq"], branched["client_id"]) == ("conversation.branched", 1, "again-1")
        started = of_type(frames, "assistant.started")[0]
        assert (started["seq"], started["versions"]) == (3, [2, 3])
        assert of_type(frames, "assistant.completed")[-1]["text"] == "Paris, on the Seine."
        assert sent_dialogue(model.requests[1]) == [("user", "Capital of France?")]  # not the first answer

        rows = await stored(cid)
        assert [(m.seq, m.content, m.shown, m.parent_id) for m in rows] == [
            (1, "Capital of France?", True, None), (2, "Paris.", False, rows[0].pk), (3, "Paris, on the Seine.", True, rows[0].pk),
        ]

        await run_turn(comm, "Population?", cid)
        assert sent_dialogue(model.requests[2]) == [
            ("user", "Capital of France?"), ("assistant", "Paris, on the Seine."), ("user", "Population?"),
        ]

        await send(comm, "branch.show", conversation_id=cid, seq=2)  # back to the first answer
        seen: list[dict[str, Any]] = []
        branched = await receive_frame(comm, "conversation.branched", seen=seen)
        replayed = await receive_frame(comm, "assistant.completed", seen=seen)
        assert branched["after_seq"] == 1 and (replayed["seq"], replayed["versions"], replayed["text"]) == (2, [2, 3], "Paris.")
        assert await comm.receive_nothing(timeout=0.2)  # the first answer has nothing after it: nothing more is shown

        await run_turn(comm, "Population, really?", cid)
        assert sent_dialogue(model.requests[3]) == [
            ("user", "Capital of France?"), ("assistant", "Paris."), ("user", "Population, really?"),
        ]
    assert shown(await stored(cid)) == [
        (1, "user", "Capital of France?"), (2, "assistant", "Paris."), (6, "user", "Population, really?"),
        (7, "assistant", "Over two million."),
    ]
    assert await tree_problems(cid) == []


async def test_an_edit_makes_a_branch_the_old_one_is_kept_and_the_model_sees_only_the_new_one(user, model):
    model.says("4.").says("6.").says("10.").says("Hello!")
    async with connected(user) as comm:
        cid = await conversation_with(comm, "2+2?", "3+3?")
        await send(comm, "message.send", conversation_id=cid, client_id="edit-1", text="5+5?", edit_of=3)
        frames = await receive_turn(comm)

        ack = of_type(frames, "message.created")[0]
        assert (ack["client_id"], ack["seq"]) == ("edit-1", 5)
        branched = of_type(frames, "conversation.branched")[0]
        assert (branched["after_seq"], branched["client_id"]) == (2, "edit-1")
        replayed = of_type(frames, "message.created")[-1]
        assert (replayed["seq"], replayed["versions"], replayed["text"]) == (5, [3, 5], "5+5?")
        assert sent_dialogue(model.requests[2]) == [("user", "2+2?"), ("assistant", "4."), ("user", "5+5?")]

        # The first message too: its new version starts a branch of its own from the conversation's root.
        await send(comm, "message.send", conversation_id=cid, client_id="edit-2", text="Hi", edit_of=1)
        frames = await receive_turn(comm)
        assert of_type(frames, "conversation.branched")[0]["after_seq"] == 0
        assert sent_dialogue(model.requests[3]) == [("user", "Hi")]

    rows = await stored(cid)
    assert [m.seq for m in rows] == [1, 2, 3, 4, 5, 6, 7, 8]  # nothing deleted
    assert shown(rows) == [(7, "user", "Hi"), (8, "assistant", "Hello!")]
    by_seq = {m.pk: m.seq for m in rows}
    assert [(m.seq, by_seq.get(m.parent_id)) for m in rows] == [(1, None), (2, 1), (3, 2), (4, 3), (5, 2), (6, 5), (7, None), (8, 7)]
    assert await tree_problems(cid) == []

    async with connected(user) as reloaded:  # a reload shows the branch shown, with its versions
        await send(reloaded, "conversation.open", conversation_id=cid, last_seq=0)
        seen: list[dict[str, Any]] = []
        await receive_frame(reloaded, "assistant.completed", where=lambda f: f["seq"] == 8, seen=seen)
        assert [(f["seq"], f.get("versions")) for f in seen if "seq" in f] == [(7, [1, 7]), (8, None)]


async def test_an_edit_that_names_no_message_of_the_persons_on_the_branch_is_refused_and_changes_nothing(user, model):
    model.says("4.").says("6.").says("ok")
    async with connected(user) as comm:
        cid = await conversation_with(comm, "2+2?")
        before = await stored(cid)
        for edit_of, why in [(2, "not a message of yours"), (99, "not a message of yours")]:
            await send(comm, "message.send", conversation_id=cid, client_id=f"bad-{edit_of}", text="x", edit_of=edit_of)
            error = await receive_frame(comm, "error")
            assert (error["code"], error["client_id"]) == ("invalid_frame", f"bad-{edit_of}") and why in error["message"]
        await send(comm, "message.send", client_id="bad-new", text="x", edit_of=1)
        assert "names its conversation" in (await receive_frame(comm, "error"))["message"]
        assert [(m.seq, m.shown) for m in await stored(cid)] == [(m.seq, m.shown) for m in before]

        await regenerate(comm, cid)  # 1 is now the only version of the question; its first reply is hidden
        await send(comm, "message.send", conversation_id=cid, client_id="ok", text="6+6?", edit_of=1)
        await receive_turn(comm)
        await send(comm, "message.send", conversation_id=cid, client_id="stale", text="x", edit_of=1)
        assert "not on the branch shown" in (await receive_frame(comm, "error"))["message"]
        await run_turn(comm, "still usable?", cid)  # the refusals left the conversation free


async def test_other_tabs_are_told_and_shown_the_new_branch(user, model):
    model.says("One.").says("Two.")
    async with connected(user) as comm, connected(user) as other:
        cid = await conversation_with(comm, "Count")
        await send(other, "conversation.open", conversation_id=cid, last_seq=2)
        await receive_frame(other, "conversation.opened")
        await regenerate(comm, cid)
        seen: list[dict[str, Any]] = []
        await receive_frame(other, "turn.finished", seen=seen)
        assert seen[0] == {"type": "conversation.branched", "conversation_id": cid, "after_seq": 1,
                           "client_id": seen[0]["client_id"], "first_seq": 3, "has_earlier": False}
        assert of_type(seen, "assistant.started")[0]["versions"] == [2, 3]
        assert of_type(seen, "assistant.completed")[-1]["text"] == "Two."


async def test_a_resent_regenerate_starts_nothing_new(user, model):
    model.says("One.").says("Two.")
    async with connected(user) as comm:
        cid = await conversation_with(comm, "Count")
        await regenerate(comm, cid, "once")
        await send(comm, "message.regenerate", conversation_id=cid, client_id="once")
        seen: list[dict[str, Any]] = []
        await receive_frame(comm, "assistant.completed", seen=seen)
        assert seen[0]["type"] == "conversation.branched" and seen[0]["client_id"] == "once"
        assert await comm.receive_nothing(timeout=0.3)  # no second turn
    assert [m.content for m in await stored(cid)] == ["Count", "One.", "Two."] and len(model.requests) == 2


async def test_regenerating_or_switching_while_a_reply_is_written_is_refused_as_busy(user, model):
    model.says("One.").says("Two.")
    async with connected(user) as comm:
        cid = await conversation_with(comm, "Count")
        await regenerate(comm, cid)
        await leased(cid)
        await send(comm, "message.regenerate", conversation_id=cid, client_id="r")
        assert (await receive_frame(comm, "error"))["code"] == "busy"
        await send(comm, "branch.show", conversation_id=cid, seq=2)
        assert (await receive_frame(comm, "error"))["code"] == "busy"
        await leased(cid, token="")
    assert [(m.seq, m.shown) for m in await stored(cid)] == [(1, True), (2, False), (3, True)]


async def test_another_persons_conversation_cannot_be_regenerated_edited_or_switched(user, other_user, model):
    model.says("Secret answer.").says("Another.")
    async with connected(user) as comm:
        cid = await conversation_with(comm, "My secret")
        await regenerate(comm, cid)
    before = [(m.seq, m.shown) for m in await stored(cid)]
    async with connected(other_user) as mallory:
        for frame in [
            {"type": "message.regenerate", "conversation_id": cid, "client_id": "m1"},
            {"type": "branch.show", "conversation_id": cid, "seq": 2},
            {"type": "message.send", "conversation_id": cid, "client_id": "m2", "text": "mine now", "edit_of": 1},
        ]:
            await mallory.send_to(text_data=json.dumps(frame))
            error = await receive_frame(mallory, "error")
            assert error["code"] == "not_found", frame
    client = await client_of(other_user)
    assert_problem(await post(client, f"/conversations/{cid}/regenerate"), 404)
    assert_problem(await post(client, f"/conversations/{cid}/branch", {"seq": 2}), 404)
    assert_problem(await post(client, f"/conversations/{cid}/messages", {"text": "x", "edit_of": 1}), 404)
    assert [(m.seq, m.shown) for m in await stored(cid)] == before and len(model.requests) == 2


async def test_the_api_regenerates_edits_and_switches_through_the_same_services(user, model):
    model.says("One.").says("Two.").says("Three.")
    async with connected(user) as comm:
        cid = await conversation_with(comm, "Count")
        client = await client_of(user)

        regenerated = await post(client, f"/conversations/{cid}/regenerate", **{"Idempotency-Key": "api-again"})
        assert regenerated.status_code == 202, regenerated.content
        assert (regenerated.json()["message"]["seq"], regenerated.json()["reply_seq"]) == (1, 3)
        await receive_turn(comm)  # the open tab is told and shown the new reply
        again = await post(client, f"/conversations/{cid}/regenerate", **{"Idempotency-Key": "api-again"})
        assert (again.status_code, again.json()["reply_seq"]) == (200, 3)

        edited = await post(client, f"/conversations/{cid}/messages", {"text": "Count again", "edit_of": 1})
        assert edited.status_code == 202, edited.content
        assert (edited.json()["message"]["seq"], edited.json()["message"]["versions"]) == (4, [1, 4])
        await receive_turn(comm)

        page = (await client.get(f"{API}/conversations/{cid}/messages")).json()["items"]
        assert [(m["seq"], m["parent_seq"], m["shown"], m["versions"]) for m in page] == [(4, None, True, [1, 4]), (5, 4, True, [])]

        switched = await post(client, f"/conversations/{cid}/branch", {"seq": 1})
        assert switched.json() == {"changed": True, "after_seq": 0, "shown_seqs": [1, 3]}
        branched = await receive_frame(comm, "conversation.branched")
        assert branched["after_seq"] == 0
        assert (await post(client, f"/conversations/{cid}/branch", {"seq": 1})).json()["changed"] is False
        assert_problem(await post(client, f"/conversations/{cid}/branch", {"seq": 99}), 404)
        hidden = (await client.get(f"{API}/conversations/{cid}/messages/2")).json()
        assert (hidden["shown"], hidden["parent_seq"], hidden["versions"]) == (False, 1, [2, 3])
    assert await tree_problems(cid) == []


async def test_a_tab_that_comes_back_after_another_version_was_chosen_is_moved_to_the_branch_shown(user, model):
    model.says("One.").says("Two.").says("Three.")
    async with connected(user) as comm:
        cid = await conversation_with(comm, "Count", "More")  # 1 user, 2 "One.", 3 user, 4 "Two."
        await send(comm, "message.send", conversation_id=cid, client_id="edit", text="Less", edit_of=3)
        await receive_turn(comm)  # 5 "Less", 6 "Three."
        await send(comm, "branch.show", conversation_id=cid, seq=3)
        await receive_frame(comm, "assistant.completed", where=lambda f: f["seq"] == 4)
    async with connected(user) as away:  # a tab that last held seq 6, of the branch no longer shown
        await send(away, "conversation.open", conversation_id=cid, last_seq=6)
        seen: list[dict[str, Any]] = []
        await receive_frame(away, "assistant.completed", where=lambda f: f["seq"] == 4, seen=seen)
        assert [(f["type"], f.get("after_seq"), f.get("seq")) for f in seen] == [
            ("conversation.opened", None, None), ("conversation.branched", 2, None),
            ("message.created", None, 3), ("assistant.completed", None, 4),
        ]
