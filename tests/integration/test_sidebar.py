"""The sidebar's doors: rename and delete over the socket and the API, scoped to the owner, told to every tab."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Conversation, Message
from tests.support.api import API, assert_problem, client_of, patch
from tests.support.socket import connected, receive_frame, send
from tests.support.stored import leased

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def conversation_of(owner: Any, title: str = "Plans", text: str = "hi") -> int:
    conversation = services.conversation_create(owner=owner, title=title)
    services.message_create(conversation_id=conversation.pk, role=Message.Role.USER, content=text, client_id=uuid.uuid4().hex)
    return conversation.pk


@database_sync_to_async
def title_of(conversation_id: int) -> str | None:
    return Conversation.objects.filter(pk=conversation_id).values_list("title", flat=True).first()


async def opened(comm: Any, conversation_id: int) -> None:
    await send(comm, "conversation.open", conversation_id=conversation_id)
    await receive_frame(comm, "conversation.opened")
    await receive_frame(comm, "message.created")


async def test_a_rename_over_the_socket_is_stored_and_told_to_every_tab_of_the_person(user):
    cid = await conversation_of(user)
    async with connected(user) as renaming, connected(user) as showing, connected(user) as elsewhere:
        await opened(showing, cid)
        await send(renaming, "conversation.rename", conversation_id=cid, title="  Trip   to Lyon ")
        for comm in (renaming, showing, elsewhere):
            frame = await receive_frame(comm, "conversation.renamed")
            assert (frame["conversation_id"], frame["title"]) == (cid, "Trip to Lyon")
    assert await title_of(cid) == "Trip to Lyon"


async def test_renaming_or_deleting_another_persons_conversation_is_not_found_and_tells_nobody(user, other_user):
    theirs = await conversation_of(other_user, title="Private")
    async with connected(other_user) as owner_tab, connected(user) as comm:
        await opened(owner_tab, theirs)
        await send(comm, "conversation.rename", conversation_id=theirs, title="Mine now")
        assert (await receive_frame(comm, "error"))["code"] == "not_found"
        await send(comm, "conversation.delete", conversation_id=theirs)
        assert (await receive_frame(comm, "error"))["code"] == "not_found"
        assert await owner_tab.receive_nothing(timeout=0.3)
    assert await title_of(theirs) == "Private"


async def test_the_api_rename_and_delete_of_another_persons_conversation_is_404(user, other_user):
    theirs = await conversation_of(other_user, title="Private")
    client = await client_of(user)
    assert_problem(await patch(client, f"/conversations/{theirs}", {"title": "Mine"}), 404, "not_found")
    assert_problem(await client.delete(f"{API}/conversations/{theirs}"), 404, "not_found")
    assert await title_of(theirs) == "Private"


async def test_a_delete_over_the_socket_tells_the_tabs_showing_it_and_they_stop_following_it(user):
    cid = await conversation_of(user)
    async with connected(user) as deleting, connected(user) as showing:
        await opened(showing, cid)
        await send(deleting, "conversation.delete", conversation_id=cid)
        for comm in (deleting, showing):
            assert (await receive_frame(comm, "conversation.deleted"))["conversation_id"] == cid
        await send(showing, "ping", nonce="after")
        assert (await receive_frame(showing, "pong"))["nonce"] == "after"
    assert await title_of(cid) is None


async def test_an_api_delete_tells_the_open_sockets_and_an_api_rename_too(user):
    cid = await conversation_of(user)
    client = await client_of(user)
    async with connected(user) as showing:
        await opened(showing, cid)
        assert (await patch(client, f"/conversations/{cid}", {"title": "Renamed"})).status_code == 200
        assert (await receive_frame(showing, "conversation.renamed"))["title"] == "Renamed"
        assert (await client.delete(f"{API}/conversations/{cid}")).status_code == 204
        assert (await receive_frame(showing, "conversation.deleted"))["conversation_id"] == cid


async def test_a_delete_while_a_reply_is_written_is_refused_as_busy_and_keeps_it(user):
    cid = await conversation_of(user)
    await leased(cid)
    async with connected(user) as comm:
        await send(comm, "conversation.delete", conversation_id=cid)
        error = await receive_frame(comm, "error")
        assert error["code"] == "busy" and "stop it first" in error["message"]
        assert await comm.receive_nothing(timeout=0.2)
    assert await title_of(cid) == "Plans"


async def test_an_empty_title_is_refused(user):
    cid = await conversation_of(user)
    async with connected(user) as comm:
        await send(comm, "conversation.rename", conversation_id=cid, title="   ")
        assert (await receive_frame(comm, "error"))["code"] == "invalid_frame"
    assert await title_of(cid) == "Plans"


async def test_search_finds_message_text_and_titles_in_any_case_and_never_another_persons(user, other_user):
    trip = await conversation_of(user, title="Holiday", text="We could take the night TRAIN to Vienna")
    titled = await conversation_of(user, title="Train timetables", text="nothing here")
    await conversation_of(user, title="Cooking", text="pasta")
    await conversation_of(other_user, title="Their trains", text="a train to Rome")
    client = await client_of(user)

    found = (await client.get(f"{API}/search", {"q": "train"})).json()["items"]
    assert {hit["id"] for hit in found} == {trip, titled}
    by_id = {hit["id"]: hit for hit in found}
    assert "night TRAIN to Vienna" in by_id[trip]["snippet"]
    assert by_id[titled]["snippet"] == ""

    assert (await client.get(f"{API}/search", {"q": "rome"})).json()["items"] == []
    theirs = await client_of(other_user)
    assert [h["title"] for h in (await theirs.get(f"{API}/search", {"q": "vienna"})).json()["items"]] == []


@database_sync_to_async
def with_an_earlier_version(owner: Any) -> int:
    """A question whose first reply ("the old zeppelin answer") was regenerated: it is an earlier version, not shown."""
    from chat import branches

    cid = conversation_of.func(owner, title="Airships", text="Tell me about airships")
    question = Message.objects.get(conversation_id=cid, seq=1)
    services.message_create(conversation_id=cid, role=Message.Role.ASSISTANT, content="the old zeppelin answer")
    branches.show(cid, question)
    services.message_create(conversation_id=cid, role=Message.Role.ASSISTANT, content="blimps and dirigibles")
    return cid


async def test_search_finds_the_branch_shown_and_not_an_earlier_version(user):
    cid = await with_an_earlier_version(user)
    client = await client_of(user)
    assert [hit["id"] for hit in (await client.get(f"{API}/search", {"q": "dirigibles"})).json()["items"]] == [cid]
    assert (await client.get(f"{API}/search", {"q": "zeppelin"})).json()["items"] == []


async def test_search_needs_a_query_and_a_login(user):
    assert_problem(await (await client_of(user)).get(f"{API}/search"), 422, "invalid")
    from django.test import AsyncClient

    assert_problem(await AsyncClient().get(f"{API}/search", {"q": "x"}), 401, "not_authenticated")


async def test_every_tab_of_the_person_is_told_when_a_reply_starts_and_stops_being_written(user, other_user):
    async with connected(user) as sending, connected(user) as elsewhere, connected(other_user) as stranger:
        await send(sending, "message.send", client_id="w1", text="hello")
        cid = (await receive_frame(sending, "message.created"))["conversation_id"]
        started = await receive_frame(elsewhere, "conversation.writing")
        assert (started["conversation_id"], started["writing"]) == (cid, True)
        finished = await receive_frame(elsewhere, "conversation.writing")
        assert (finished["conversation_id"], finished["writing"]) == (cid, False)
        frames: list[dict[str, Any]] = []
        await receive_frame(sending, "turn.finished", seen=frames)
        assert "conversation.writing" not in {f["type"] for f in frames}  # it follows the conversation's own frames
        assert await stranger.receive_nothing(timeout=0.2)
