"""Export over the API: exactly the stored messages, with tool calls, results and timestamps; only the owner's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from chat import services
from chat.models import Message
from tests.integration.test_api import API, assert_problem, bearer_client, client_of
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "It is **42**.\n\n```python\nprint(6 * 7)\n```"


@database_sync_to_async
def conversation_with_a_tool_call(owner: Any) -> int:
    conversation = services.conversation_create(owner=owner, title="Sums & more")
    add = services.message_create
    add(conversation_id=conversation.pk, role="user", content="what is 6*7?", client_id="c1")
    add(conversation_id=conversation.pk, role="assistant", provider="fake", model="m",
        tool_calls=[{"id": "call_1", "name": "builtin__calculator", "arguments": {"expression": "6*7"}}])
    add(conversation_id=conversation.pk, role="tool", tool_call_id="call_1", tool_name="builtin__calculator",
        tool_arguments={"expression": "6*7"}, content="42", tool_outcome="result")
    add(conversation_id=conversation.pk, role="assistant", content=ANSWER, provider="fake", model="m")
    return conversation.pk


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


async def test_the_json_export_holds_exactly_the_stored_messages_with_tool_calls_and_timestamps(user):
    conversation_id = await conversation_with_a_tool_call(user)
    client = await bearer_client(user)

    response = await client.get(f"{API}/conversations/{conversation_id}/export", {"format": "json"})

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="conversation-{conversation_id}-sums-more.json"'
    data = response.json()
    assert (data["format"], data["conversation"]["id"], data["conversation"]["title"]) == (
        "chatsite-conversation/1", conversation_id, "Sums & more"
    )
    rows = await stored(conversation_id)
    assert [(m["seq"], m["role"], m["status"], m["content"], m["created_at"], m["updated_at"]) for m in data["messages"]] == [
        (r.seq, r.role, r.status, r.content, iso(r.created_at), iso(r.updated_at)) for r in rows
    ]
    assert data["messages"][1]["tool_calls"] == rows[1].tool_calls
    call = data["messages"][2]["tool_call"]
    assert {k: call[k] for k in ("id", "name", "title", "arguments", "result", "is_error", "outcome")} == {
        "id": "call_1", "name": "builtin__calculator", "title": "Calculator", "arguments": {"expression": "6*7"},
        "result": "42", "is_error": False, "outcome": "result",
    }
    assert call["duration_ms"] >= 0


async def test_the_markdown_export_reads_as_the_conversation(user):
    conversation_id = await conversation_with_a_tool_call(user)
    response = await (await client_of(user)).get(f"{API}/conversations/{conversation_id}/export?format=md")

    assert response.status_code == 200 and response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"].endswith('.md"')
    text = response.content.decode()
    rows = await stored(conversation_id)
    assert text.startswith("# Sums & more\n")
    assert f"## You · {iso(rows[0].created_at)}\n\nwhat is 6*7?\n" in text
    assert "## Tool: Calculator (`builtin__calculator`)" in text
    assert '```json\n{\n  "expression": "6*7"\n}\n```' in text and "Result:\n\n```\n42\n```" in text
    assert ANSWER in text  # a reply stays the markdown it was written in
    assert text.index("what is 6*7?") < text.index("Calculator") < text.index("It is **42**")


async def test_another_persons_conversation_exports_as_not_found(user, other_user):
    theirs = await conversation_with_a_tool_call(other_user)
    client = await bearer_client(user)
    for fmt in ("json", "md"):
        assert_problem(await client.get(f"{API}/conversations/{theirs}/export", {"format": fmt}), 404, "not_found")
    assert_problem(await client.get(f"{API}/conversations/999999/export"), 404, "not_found")
    assert_problem(await client.get(f"{API}/conversations/{theirs}/export", {"format": "pdf"}), 422, "invalid")
    assert_problem(await AsyncClient().get(f"{API}/conversations/{theirs}/export"), 401, "not_authenticated")


async def test_a_code_fence_inside_a_tool_result_cannot_close_the_exports_fence(user):
    conversation_id = await conversation_with_a_tool_call(user)
    await database_sync_to_async(Message.objects.filter(conversation_id=conversation_id, role="tool").update)(
        content="```\n# not a heading\n```"
    )
    text = (await (await bearer_client(user)).get(f"{API}/conversations/{conversation_id}/export?format=md")).content
    assert b"````\n```\n# not a heading\n```\n````" in text


@database_sync_to_async
def regenerated(owner: Any) -> int:
    """A question with two replies: the first an earlier version, the second shown."""
    from chat import branches

    conversation = services.conversation_create(owner=owner, title="Versions")
    add = services.message_create
    question = add(conversation_id=conversation.pk, role="user", content="Colour?", client_id="c1")
    add(conversation_id=conversation.pk, role="assistant", content="Blue.")
    branches.show(conversation.pk, question)
    add(conversation_id=conversation.pk, role="assistant", content="Green.")
    return conversation.pk


async def test_the_json_export_holds_every_version_with_its_parent_and_the_markdown_the_branch_shown(user):
    conversation_id = await regenerated(user)
    client = await bearer_client(user)
    data = (await client.get(f"{API}/conversations/{conversation_id}/export", {"format": "json"})).json()
    assert [(m["seq"], m["parent_seq"], m["shown"], m["content"]) for m in data["messages"]] == [
        (1, None, True, "Colour?"), (2, 1, False, "Blue."), (3, 1, True, "Green."),
    ]
    markdown = (await client.get(f"{API}/conversations/{conversation_id}/export", {"format": "md"})).content.decode()
    assert "Green." in markdown and "Blue." not in markdown
    assert "1 message(s) of other versions are in the JSON export" in markdown
