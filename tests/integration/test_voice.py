"""Voice messages over the socket: audio.start, binary chunks, audio.end (docs/protocol.md "Voice messages").

The site's LLM, speech to text and text to speech are the fake server's OpenAI-compatible endpoints
(tests/support/fake_llm_server.py), reached over real HTTP in their wire formats.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from chat import services
from chat.models import Audio, Message
from chat.speech.wav import Pcm, read_wav, to_wav
from tests.support.fake_llm_server import (
    SPEECH_PATH,
    TRANSCRIPTIONS_PATH,
    FakeLLMServer,
    Hold,
    error_reply,
    text_reply,
    tool_call_reply,
    transcript_reply,
)
from tests.support.providers import PRIMARY
from tests.support.socket import connected, final_reply, of_type, receive_frame, receive_turn, send
from tests.support.stored import stored
from tests.support.voice import (
    ESPEAK_MISSING,
    chunks,
    espeak_available,
    espeak_wav,
    send_recording,
    stored_audio_files,
    tone_pcm,
    use_fake_speech,
)

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "what is 12 times 7"
ANSWER = "12 times 7 is 84."


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> None:
    """Each test's recordings in a folder of its own: the files it leaves are the files it stored."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def fake(settings: Any, use_providers: Any) -> Iterator[FakeLLMServer]:
    """The fake server answers the site's LLM, transcription and speech requests."""
    with FakeLLMServer() as server:
        use_providers({**PRIMARY, "base_url": server.base_url})
        use_fake_speech(settings, server.base_url)
        yield server


def calculator_turn(fake: FakeLLMServer) -> None:
    fake.script(tool_call_reply("builtin__calculator", {"expression": "12*7"}), text_reply("12 times 7 ", "is 84."))


@database_sync_to_async
def nothing_stored() -> tuple[int, int, list[str]]:
    return Message.objects.count(), Audio.objects.count(), stored_audio_files()


@database_sync_to_async
def get(user: Any, url: str) -> Any:
    client = Client()
    client.force_login(user)
    return client.get(url)


async def test_chunks_are_reassembled_in_order_and_the_recogniser_gets_the_exact_bytes(user, fake):
    pcm = tone_pcm(0.4)
    pieces = chunks(pcm, 7)
    fake.script_transcripts(transcript_reply("hello"))
    fake.script(text_reply("Hi."))
    async with connected(user) as comm:
        await send_recording(comm, pieces, "v1")
        await receive_turn(comm)

    [upload] = fake.audio(TRANSCRIPTIONS_PATH)
    assert upload.content_type.startswith("multipart/form-data; boundary=")
    assert (upload.model, upload.file_content_type) == ("whisper-1", "audio/wav")
    assert upload.data == to_wav(Pcm(pcm, 16000))  # the whole recording, in order, as one WAV
    assert read_wav(upload.data) == Pcm(b"".join(pieces), 16000)


async def test_the_transcript_is_the_person_s_message_and_the_turn_runs_the_calculator(user, other_user, fake):
    pcm = tone_pcm(0.3)
    fake.script_transcripts(transcript_reply(QUESTION))
    calculator_turn(fake)
    async with connected(user) as comm:
        await send_recording(comm, chunks(pcm, 3), "v2")
        frames = await receive_turn(comm)

    created = of_type(frames, "message.created")[0]
    assert (created["client_id"], created["text"]) == ("v2", QUESTION)
    finished = of_type(frames, "tool.finished")[0]
    assert (finished["name"], finished["result"], finished["is_error"]) == ("builtin__calculator", "84", False)
    assert final_reply(frames)["text"] == ANSWER
    assert fake.requests[0].messages[-1] == {"role": "user", "content": QUESTION}  # the model was asked the transcript
    messages = await stored(created["conversation_id"])
    assert [(m.role, m.content) for m in messages][:1] == [("user", QUESTION)]
    mine = await get(user, created["audio_url"])  # played back from the history, by its owner
    assert (mine.status_code, mine["Content-Type"]) == (200, "audio/wav")
    assert b"".join(mine.streaming_content) == to_wav(Pcm(pcm, 16000))
    assert (await get(other_user, created["audio_url"])).status_code == 404


async def test_a_spoken_reply_is_asked_for_with_the_reply_text_and_linked_before_the_turn_ends(user, other_user, fake):
    fake.script_transcripts(transcript_reply(QUESTION))
    calculator_turn(fake)
    async with connected(user) as comm:
        await send_recording(comm, [tone_pcm(0.2)], "v3", speak=True)
        frames = await receive_turn(comm)

    [speech] = fake.audio(SPEECH_PATH)
    assert speech.fields == {"model": "tts-1", "input": ANSWER, "voice": "alloy", "response_format": "wav"}
    audio = of_type(frames, "assistant.audio")[0]
    assert audio["seq"] == final_reply(frames)["seq"] and audio["error"] == ""
    assert [f["type"] for f in frames[-2:]] == ["assistant.audio", "turn.finished"]
    played = await get(user, audio["audio_url"])
    assert played.status_code == 200 and b"".join(played.streaming_content)[:4] == b"RIFF"
    assert (await get(other_user, audio["audio_url"])).status_code == 404
    async with connected(user) as comm:  # the history replays the question and the reply with their sound
        await send(comm, "conversation.open", conversation_id=audio["conversation_id"])
        seen: list[dict[str, Any]] = []
        replayed = await receive_frame(comm, "assistant.completed", where=lambda f: f["seq"] == audio["seq"], seen=seen)
    assert replayed["audio_url"] == audio["audio_url"]
    assert of_type(seen, "message.created")[0]["audio_url"] == of_type(frames, "message.created")[0]["audio_url"]


async def test_a_typed_message_can_ask_for_its_reply_to_be_read_aloud(user, fake):
    fake.script(text_reply("Eighty-four."))
    async with connected(user) as comm:
        await send(comm, "message.send", client_id="typed", text=QUESTION, speak=True)
        frames = await receive_turn(comm)
    assert of_type(frames, "assistant.audio")[0]["audio_url"]
    assert [r.fields["input"] for r in fake.audio(SPEECH_PATH)] == ["Eighty-four."]
    assert fake.audio(TRANSCRIPTIONS_PATH) == []


async def test_stop_while_a_reply_is_read_aloud_ends_the_reading_and_keeps_the_reply(user, fake):
    fake.script(text_reply("Eighty-four."))
    fake.script_speech_error(Hold("speaking"))
    async with connected(user) as comm:
        await send(comm, "message.send", client_id="spoken", text=QUESTION, speak=True)
        seen: list[dict[str, Any]] = []
        completed = await receive_frame(comm, "assistant.completed", seen=seen)
        await asyncio.to_thread(fake.wait_until_held, "speaking")
        await send(comm, "generation.stop", conversation_id=completed["conversation_id"])
        frames = await receive_turn(comm, seen=seen)
        fake.release("speaking")
    audio = of_type(frames, "assistant.audio")[0]
    assert (audio["audio_url"], audio["error"]) == (None, "Reading aloud was stopped.")
    assert (final_reply(frames)["status"], frames[-1]["status"]) == ("complete", "complete")
    assert [m.status for m in await stored(completed["conversation_id"])] == ["complete", "complete"]
    assert await database_sync_to_async(Audio.objects.filter(kind="speech").count)() == 0


async def test_deleting_a_conversation_deletes_its_recordings_and_their_files(user, fake):
    fake.script_transcripts(transcript_reply(QUESTION))
    fake.script(text_reply("Eighty-four."))
    async with connected(user) as comm:
        await send_recording(comm, [tone_pcm(0.1)], "gone", speak=True)
        frames = await receive_turn(comm)
    assert len(await asyncio.to_thread(stored_audio_files)) == 2  # the question and the reply read aloud
    await database_sync_to_async(services.conversation_delete)(owner=user, conversation_id=frames[-1]["conversation_id"])
    assert await nothing_stored() == (0, 0, [])


async def test_a_reply_that_cannot_be_read_aloud_stays_text_and_says_why(user, fake):
    fake.script_transcripts(transcript_reply(QUESTION))
    fake.script(text_reply("Eighty-four."))
    fake.script_speech_error(error_reply(503, "voice overloaded"))
    async with connected(user) as comm:
        await send_recording(comm, [tone_pcm(0.2)], "v4", speak=True)
        frames = await receive_turn(comm)

    audio = of_type(frames, "assistant.audio")[0]
    assert audio["audio_url"] is None and "HTTP 503" in audio["error"]
    assert (final_reply(frames)["status"], frames[-1]["status"]) == ("complete", "complete")
    assert await database_sync_to_async(Audio.objects.filter(kind="speech").count)() == 0


BAD_RECORDINGS = {
    "unsupported format": (dict(audio_format="opus"), [b"\x01\x02" * 100], "unsupported_audio"),
    "unsupported sample rate": (dict(sample_rate=1000), [b"\x01\x02" * 100], "unsupported_audio"),
    "empty recording": ({}, [], "empty_audio"),
    "a silent recording": ({}, [b"\x00\x00" * 400], "empty_audio"),
    "only a faint hiss": ({}, [struct.pack("<400h", *[(-1) ** i * 329 for i in range(400)])], "empty_audio"),
    "over the byte limit": ({}, [b"\x01\x02" * 600] * 2, "too_large"),
    "over the seconds limit": (dict(sample_rate=8000), [b"\x01\x02" * 500] * 2, "too_large"),
    "a chunk over the chunk limit": ({}, [b"\x01\x02" * 800], "too_large"),
}


@pytest.mark.parametrize("case", BAD_RECORDINGS, ids=list(BAD_RECORDINGS))
async def test_a_bad_recording_is_refused_clearly_stores_nothing_and_the_socket_stays_usable(user, fake, settings, case):
    settings.VOICE_MAX_BYTES, settings.VOICE_MAX_SECONDS, settings.VOICE_MAX_CHUNK_BYTES = 2000, 0.1, 1500
    options, pieces, code = BAD_RECORDINGS[case]
    fake.script_transcripts(transcript_reply("hello"))
    fake.script(text_reply("Hi."))
    async with connected(user) as comm:
        seen: list[dict[str, Any]] = []
        await send_recording(comm, pieces, "bad", **options)
        error = await receive_frame(comm, "error", seen=seen)
        await send(comm, "ping", nonce="after")
        await receive_frame(comm, "pong", seen=seen)
        assert await nothing_stored() == (0, 0, [])
        assert [f for f in seen if f["type"] == "error"] == [error]  # one error, not one per chunk
        assert (error["code"], error["client_id"]) == (code, "bad") and error["message"]
        assert fake.audio(TRANSCRIPTIONS_PATH) == []

        await send_recording(comm, [tone_pcm(0.02)], "good")  # and a recording after it goes through
        created = await receive_frame(comm, "message.created")
        await receive_turn(comm)
    assert (created["client_id"], created["text"]) == ("good", "hello")


async def test_a_binary_frame_outside_a_recording_is_refused_and_the_socket_stays_usable(user, fake):
    async with connected(user) as comm:
        await comm.send_to(bytes_data=b"\x00\x01stray")
        error = await receive_frame(comm, "error")
        await send_recording(comm, [b"\x01\x00" * 10], "c", end=False)
        await send(comm, "audio.cancel", client_id="c")
        await comm.send_to(bytes_data=b"\x00\x01after cancel")
        after_cancel = await receive_frame(comm, "error")
        await send(comm, "ping", nonce="still here")
        assert await receive_frame(comm, "pong") == {"type": "pong", "nonce": "still here"}
    assert error["code"] == after_cancel["code"] == "binary_not_supported"
    assert await nothing_stored() == (0, 0, [])
    assert fake.audio(TRANSCRIPTIONS_PATH) == []


async def test_a_transcription_error_says_why_and_stores_nothing(user, fake):
    fake.script_transcripts(error_reply(500, "whisper crashed"))
    async with connected(user) as comm:
        await send_recording(comm, [tone_pcm(0.1)], "v5")
        error = await receive_frame(comm, "error")
        await send(comm, "ping", nonce="ok")
        await receive_frame(comm, "pong")

    assert (error["code"], error["client_id"]) == ("transcription_failed", "v5")
    assert "HTTP 500: whisper crashed" in error["message"]
    assert await nothing_stored() == (0, 0, [])
    assert fake.requests == []  # the model was never asked


async def test_a_socket_dropped_mid_recording_stores_nothing(user, fake):
    fake.script_transcripts(transcript_reply("never"))
    async with connected(user) as comm:
        await send_recording(comm, chunks(tone_pcm(0.2), 3), "v6", end=False)
        await send(comm, "ping", nonce="chunks handled")
        await receive_frame(comm, "pong")
    # The communicator waited for the consumer's disconnect to run.
    assert await nothing_stored() == (0, 0, [])
    assert fake.audio(TRANSCRIPTIONS_PATH) == []


async def test_a_resent_recording_is_acknowledged_with_the_stored_message_and_not_transcribed_again(user, fake):
    fake.script_transcripts(transcript_reply(QUESTION))
    fake.script(text_reply("Eighty-four."))
    async with connected(user) as comm:
        await send_recording(comm, [tone_pcm(0.1)], "again")
        first = await receive_frame(comm, "message.created")
        await receive_turn(comm)
        await send_recording(comm, [tone_pcm(0.1)], "again", conversation_id=first["conversation_id"])
        second = await receive_frame(comm, "message.created")
        await send(comm, "ping", nonce="no turn")
        await receive_frame(comm, "pong")

    assert (second["seq"], second["text"], second["audio_url"]) == (first["seq"], QUESTION, first["audio_url"])
    assert len(fake.audio(TRANSCRIPTIONS_PATH)) == 1 and len(fake.requests) == 1
    assert await database_sync_to_async(Audio.objects.count)() == 1


async def test_a_recording_into_someone_else_s_conversation_is_not_found(user, other_user, fake):
    theirs = await database_sync_to_async(services.conversation_create)(owner=other_user, first_text="theirs")
    async with connected(user) as comm:
        await send_recording(comm, [tone_pcm(0.1)], "v7", conversation_id=theirs.pk)
        seen: list[dict[str, Any]] = []
        error = await receive_frame(comm, "error", seen=seen)
        await send(comm, "ping", nonce="x")
        await receive_frame(comm, "pong", seen=seen)
    assert (error["code"], error["client_id"]) == ("not_found", "v7")
    assert [f for f in seen if f["type"] == "error"] == [error]  # its chunks and audio.end were dropped with it
    assert await nothing_stored() == (0, 0, [])


@pytest.mark.skipif(not espeak_available(), reason=ESPEAK_MISSING)
async def test_the_offline_recogniser_hears_words_in_espeak_speech(user, settings):
    settings.STT_PROVIDER = "pocketsphinx"  # the offline default; the reply comes from the offline demo model
    wav = espeak_wav("what is twelve times seven")
    pcm = read_wav(wav)
    async with connected(user) as comm:
        await send_recording(comm, chunks(pcm.data, 10), "offline", sample_rate=pcm.rate)
        created = await receive_frame(comm, "message.created", timeout=15)
        await receive_turn(comm)
    assert created["text"].strip(), "pocketsphinx recognised nothing in espeak-ng's speech"
    assert await asyncio.to_thread(stored_audio_files)  # the recording was kept with it
