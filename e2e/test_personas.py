"""Personas: made on their page, chosen for a new chat, answering with their name and their prompt."""

from __future__ import annotations

from playwright.sync_api import expect

from chat.models import Message, Persona
from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply

PROMPT = "You are Captain Arr, a pirate. Talk like one."


def test_a_persona_made_on_its_page_answers_a_new_chat_under_its_name_with_its_prompt(chat: ChatPage, fake_llm) -> None:
    page = chat.page
    page.goto("/personas/")
    page.get_by_label("Name").fill("Captain Arr")
    page.get_by_label("System prompt").fill(PROMPT)
    page.get_by_label("Tools it may use").fill("builtin__calculator")
    page.get_by_role("button", name="Create persona").click()
    expect(page.get_by_role("list", name="Personas")).to_contain_text("Captain Arr")

    fake_llm.script(text_reply("Arr, ", "ahoy ", "matey!"))
    chat.open()
    chat.choose_participants("Captain Arr")
    chat.send("hello")

    reply = chat.last_assistant()
    expect(chat.body(reply)).to_have_text("Arr, ahoy matey!")
    expect(chat.author(reply)).to_have_text("Captain Arr")
    expect(chat.participants).to_have_text(["Captain Arr"])
    expect(chat.picker).to_be_hidden()  # participants are chosen when a conversation starts
    request = fake_llm.wait_for_requests(1)[0]
    assert request.messages[0] == {"role": "system", "content": PROMPT}, "the provider was not given the persona's prompt"
    offered = [tool["function"]["name"] for tool in request.body.get("tools", [])]
    assert offered == ["builtin__calculator"], f"the persona may use the calculator only, but was offered {offered}"

    conversation_id = chat.conversation_id_from_url()
    stored = Message.objects.get(conversation_id=conversation_id, role="assistant")
    assert (stored.speaker, stored.content) == ("Captain Arr", "Arr, ahoy matey!")
    chat.page.reload()
    expect(chat.author(chat.last_assistant())).to_have_text("Captain Arr")
    expect(chat.participants).to_have_text(["Captain Arr"])


def test_a_persona_with_a_bad_name_is_refused_with_the_reason_and_nothing_is_saved(chat: ChatPage) -> None:
    page = chat.page
    page.goto("/personas/")
    page.get_by_label("Name").fill("Skeptic")  # a built-in persona's name
    page.get_by_label("System prompt").fill("You are another Skeptic.")
    page.get_by_role("button", name="Create persona").click()

    expect(page.get_by_role("alert")).to_contain_text("not saved")
    expect(page.get_by_text("A persona named 'Skeptic' exists already.")).to_be_visible()
    expect(page.get_by_label("System prompt")).to_have_value("You are another Skeptic.")  # what was typed is kept
    assert not Persona.objects.filter(owner=chat.user).exists()
