"""Voice messages in a real Chromium whose microphone is a WAV file made here (Chromium's fake media device).

The site transcribes with the fake server's /v1/audio/transcriptions and reads replies aloud with its
/v1/audio/speech (e2e/conftest.py points the server there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from chat.models import Audio, Message
from chat.speech.wav import Pcm, to_wav
from e2e.browser_setup import CONFIG, SETTINGS
from e2e.pages.chat_page import ChatPage
from e2e.pages.voice import VoiceControls
from tests.support.fake_llm_server import TRANSCRIPTIONS_PATH, text_reply, tool_call_reply, transcript_reply
from tests.support.login import login
from tests.support.voice import espeak_wav, tone_pcm

QUESTION = "what is 12 times 7"


@pytest.fixture(scope="module")
def microphone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone says: espeak-ng's voice when it is installed, else a tone (the fake
    recogniser does not listen; it only has to receive audio)."""
    path = tmp_path_factory.mktemp("microphone") / "question.wav"
    if espeak_wav("what is twelve times seven", path) is None:
        path.write_bytes(to_wav(Pcm(tone_pcm(3.0), 16000)))
    return path


def _launch(playwright: Any, launch_args: dict, microphone_wav: Path, *, fake_ui: bool) -> Browser:
    args = [
        *launch_args.get("args", []), "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav}", "--autoplay-policy=no-user-gesture-required",
    ]
    return playwright.chromium.launch(**{**launch_args, "args": [*args, *(["--use-fake-ui-for-media-stream"] if fake_ui else [])]})


@pytest.fixture(scope="module")
def voice_browser(playwright: Any, browser_type_launch_args: dict, microphone_wav: Path) -> Iterator[Browser]:
    """A Chromium whose microphone plays microphone_wav and whose permission prompt says yes by itself."""
    browser = _launch(playwright, browser_type_launch_args, microphone_wav, fake_ui=True)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def refusing_browser(playwright: Any, browser_type_launch_args: dict, microphone_wav: Path) -> Iterator[Browser]:
    """The same microphone without --use-fake-ui-for-media-stream, whose "allow" no page can refuse: a context
    not granted the microphone then has its prompt dismissed, as a person saying no does.

    Always the full Chromium: the headless shell the rest of a headless run uses has no permission prompt and
    answers every unprompted getUserMedia with NotSupportedError, which no person's browser does."""
    full = CONFIG.chromium_executable(SETTINGS, playwright.chromium.executable_path, headless=False)
    args = {key: value for key, value in browser_type_launch_args.items() if key not in {"executable_path", "channel"}}
    args.update({"executable_path": full} if full else {"channel": "chromium"})  # Playwright's own, full build
    browser = _launch(playwright, args, microphone_wav, fake_ui=False)
    yield browser
    browser.close()


@pytest.fixture
def logged_in(
    browser_context_args: dict, make_user: Callable[..., Any], live_stack: Any, _artifacts_recorder: Any
) -> Iterator[Callable[[Browser], Page]]:
    """Opens a page of `alice`, logged in (storage_state), in a new context of the given browser; closed after the test.

    These browsers are launched here (microphone flags), not by pytest-playwright, so their contexts are
    handed to its artifacts recorder (pinned pytest-playwright 0.10): traced and screenshotted on failure
    like every other context of the suite.
    """
    state, contexts = login(make_user("alice")).storage_state(live_stack.url), []

    def open_in(browser: Browser) -> Page:
        context = browser.new_context(**browser_context_args, storage_state=state)
        _artifacts_recorder.on_did_create_browser_context(context)
        contexts.append(context)
        return context.new_page()

    yield open_in
    for context in contexts:
        _artifacts_recorder.on_will_close_browser_context(context)
        context.close()


@pytest.fixture
def voice_page(voice_browser: Browser, logged_in: Callable[[Browser], Page]) -> Page:
    return logged_in(voice_browser)


def test_a_spoken_question_is_transcribed_answered_with_the_calculator_and_the_reply_is_heard(voice_page, fake_llm):
    fake_llm.script_transcripts(transcript_reply(QUESTION))
    fake_llm.script(tool_call_reply("builtin__calculator", {"expression": "12*7"}), text_reply("12 times 7 is ", "84."))
    chat, voice = ChatPage(voice_page).open(), VoiceControls(voice_page)
    voice.speak_replies.check()

    voice.start()
    expect(voice.time).to_have_text(re.compile(r"^0:0\d$"))
    voice.send.click()

    expect(voice.bar).to_be_hidden()
    question = chat.by_role("user")
    expect(chat.body(question)).to_have_text(QUESTION)
    [upload] = fake_llm.wait_for_audio(TRANSCRIPTIONS_PATH, 1)
    assert (upload.model, upload.file_content_type) == ("whisper-1", "audio/wav")
    assert upload.byte_length > 44 + 1600  # a WAV header and at least 50 ms of 16 kHz audio
    expect(chat.tool_card("Calculator")).to_have_attribute("data-state", "done")
    expect(chat.tool_card("Calculator").locator(".tool-result")).to_have_text("84")
    reply = chat.last_assistant()
    expect(chat.body(reply)).to_have_text("12 times 7 is 84.")
    assert voice.wait_until_playable(voice.players(reply), playing=True) > 0  # the reply, read aloud, plays
    assert voice.wait_until_playable(voice.players(question)) > 0  # and the question can be heard again
    assert Audio.objects.filter(kind="recording").count() == Audio.objects.filter(kind="speech").count() == 1


# A computer with no microphone: the browser answers getUserMedia with NotFoundError (stood in for here, so
# the test does not depend on the desk it runs on). A refused one: Chromium without its fake-UI flag refuses.
NO_MICROPHONE = (
    "navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Requested device not found', 'NotFoundError'));"
)
MICROPHONE_PROBLEMS = {
    "refused": ("refusing_browser", "", "Microphone access was refused. Allow the microphone for this site to send voice messages."),
    "missing": ("voice_browser", NO_MICROPHONE, "No microphone was found. Connect one to send voice messages."),
}


@pytest.mark.parametrize("problem", list(MICROPHONE_PROBLEMS))
def test_a_microphone_that_cannot_be_used_says_why_and_sends_nothing(problem, request, logged_in, fake_llm):
    browser_fixture, script, notice = MICROPHONE_PROBLEMS[problem]
    page = logged_in(request.getfixturevalue(browser_fixture))
    if script:
        page.add_init_script(script)
    chat, voice = ChatPage(page).open(), VoiceControls(page)

    voice.record.click()

    expect(voice.notice).to_have_text(notice)
    expect(voice.bar).to_be_hidden()
    expect(voice.record).to_be_enabled()
    assert chat.messages.count() == 0 and fake_llm.audio_requests == []


def test_cancel_sends_nothing(voice_page, fake_llm, live_stack):
    chat, voice = ChatPage(voice_page).open(), VoiceControls(voice_page)

    voice.start()
    expect(voice.time).to_have_text("0:01")  # the elapsed time counts while it records
    voice_page.keyboard.press("Escape")
    expect(voice.bar).to_be_hidden()
    voice.start()
    voice.cancel.click()
    expect(voice.bar).to_be_hidden()

    fake_llm.script(text_reply("pong"))
    chat.send("ping")  # the socket carries on; and by its answer the server has handled every frame before
    expect(chat.body(chat.last_assistant())).to_have_text("pong")
    assert chat.by_role("user").count() == 1
    assert fake_llm.audio_requests == []
    assert list(Message.objects.filter(role="user").values_list("content", flat=True)) == ["ping"]
    assert Audio.objects.count() == 0
