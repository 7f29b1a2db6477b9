"""One person's conversations are invisible and unreachable to another, in the page and over the socket."""

from __future__ import annotations

from playwright.sync_api import expect

from chat.models import Conversation, Message
from e2e.pages.chat_page import ChatPage
from tests.support.stored import store_line

# Opens a socket as the page's user, tries to read and to write someone else's conversation,
# and returns every frame the server sent back.
PROBE_JS = """
(conversationId) => new Promise((resolve) => {
  const frames = [];
  const socket = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/chat/");
  const finish = () => { clearTimeout(timer); socket.close(); resolve(frames); };
  const timer = setTimeout(finish, 5000);
  socket.onopen = () => {
    socket.send(JSON.stringify({type: "conversation.open", conversation_id: conversationId, last_seq: 0}));
    socket.send(JSON.stringify({type: "message.send", client_id: "intruder-1", conversation_id: conversationId, text: "hi"}));
  };
  socket.onmessage = (event) => {
    frames.push(JSON.parse(event.data));
    if (frames.filter((f) => f.type === "error").length >= 2) finish();
  };
})
"""


def test_a_second_person_cannot_see_open_or_use_the_first_persons_conversation(
    chat: ChatPage, logged_in_context, make_user, live_stack
) -> None:
    secret = Conversation.objects.create(owner=chat.user, title="Alice's secret plan")
    store_line(secret, [Message(conversation=secret, seq=1, role="user", content="the secret is 42")])
    chat.page.reload()
    expect(chat.conversation_links.filter(has_text="Alice's secret plan")).to_have_count(1)

    bob = ChatPage(logged_in_context(make_user("bob")).new_page()).open()

    expect(bob.page.get_by_text("bob", exact=True)).to_be_visible()
    expect(bob.conversation_links).to_have_count(0)
    response = bob.page.goto(f"/c/{secret.pk}/")
    assert response is not None and response.status == 404
    expect(bob.page.get_by_text("the secret is 42")).to_have_count(0)

    bob.open()
    frames = bob.page.evaluate(PROBE_JS, secret.pk)
    errors = [f for f in frames if f["type"] == "error"]
    assert [e["code"] for e in errors] == ["not_found", "not_found"], f"expected two not_found errors, got {frames}"
    assert "the secret is 42" not in str(frames)
    assert list(secret.messages.values_list("content", flat=True)) == ["the secret is 42"]
