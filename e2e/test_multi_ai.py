"""Several AIs in one conversation: each announced as typing, each reply labelled, stoppable, stored, private."""

from __future__ import annotations

from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import Hold, text_reply


def test_two_participants_take_turns_under_their_names_and_a_stop_ends_the_discussion(
    chat: ChatPage, fake_llm, logged_in_context, make_user
) -> None:
    fake_llm.script(
        text_reply(Hold("skeptic-starts"), "I doubt ", "it."),
        text_reply("Let me ", "explain", Hold("teacher-midway"), " more."),
    )
    chat.choose_participants("Skeptic", "Teacher", rounds=2)
    chat.send("Is coffee good for you?")

    fake_llm.wait_until_held("skeptic-starts")
    expect(chat.typing).to_have_text("Skeptic is typing…")  # before its first token
    fake_llm.release("skeptic-starts")
    skeptic, teacher = chat.replies_by("Skeptic"), chat.replies_by("Teacher")
    expect(chat.body(skeptic)).to_have_text("I doubt it.")
    expect(chat.body(teacher)).to_have_text("Let me explain")
    fake_llm.wait_until_held("teacher-midway")
    expect(chat.typing).to_be_hidden()
    expect(chat.author(teacher)).to_have_text("Teacher")
    expect(chat.participants).to_have_text(["Skeptic", "Teacher"])

    chat.stop_button.click()

    expect(teacher).to_have_attribute("data-status", "stopped")
    chat.expect_reply_done()
    expect(chat.by_role("assistant")).to_have_count(2)  # the second round never started
    conversation_id = chat.conversation_id_from_url()
    rows = list(Message.objects.filter(conversation_id=conversation_id, role="assistant").order_by("seq"))
    assert [(m.speaker, m.status, m.content) for m in rows] == [
        ("Skeptic", "complete", "I doubt it."), ("Teacher", "stopped", "Let me explain")]

    chat.page.reload()
    expect(chat.by_role("assistant")).to_have_count(2)
    expect(chat.author(chat.by_role("assistant"))).to_have_text(["Skeptic", "Teacher"])
    colours = chat.author(chat.by_role("assistant")).evaluate_all("nodes => nodes.map(n => getComputedStyle(n).backgroundColor)")
    assert colours[0] != colours[1], "the two participants' labels look alike"

    bob = ChatPage(logged_in_context(make_user("bob")).new_page()).open()
    expect(bob.conversation_links).to_have_count(0)
    response = bob.page.goto(f"/c/{conversation_id}/")
    assert response is not None and response.status == 404
