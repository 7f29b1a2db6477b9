"""ChatConsumer: a thin adapter between socket frames and the turn engine (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import (
    backpressure,
    conversations,
    follow,
    frames,
    logcontext,
    metrics,
    protocol,
    ratelimit,
    selectors,
    services,
    session_watch,
    turns,
    voice,
)
from chat.protocol import ClientError, ErrorCode
from chat.services import Outcome
from chat.socket_gone import SOCKET_GONE

log = logging.getLogger(__name__)


@dataclass
class _Answering:
    client_id: str | None  # the frame's client id, once it is known: its error frame carries it


class ChatConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        """Call the event's handler, without channels' hop to its database thread before each event.

        Channels runs `close_old_connections` on its one database thread before every event, a
        relayed delta included: at 100 concurrent replies that was 13% of the process, queued
        behind the saves. Every database call here goes through `database_sync_to_async`, which
        closes stale connections itself, before and after.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.conversation_id: int | None = None
        self.delivery = follow.Delivery()  # what this socket holds of the followed conversation
        self.session_watch = session_watch.SessionWatch(self.scope, self.channel_name)
        self.socket_slot = ratelimit.SocketSlot(self.user, self.channel_name)
        self.recording: voice.Recording | None = None  # this socket's voice message being streamed in
        self.voice_tasks: set[asyncio.Task[None]] = set()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=4401)
            return
        metrics.socket_opened(self.channel_name)
        await self.accept()
        if not await self.socket_slot.acquire():
            # Accepted first so the page can say why: a refused handshake reaches it as a bare 1006.
            await self._send(protocol.error_frame(**self.socket_slot.refusal()))
            await self.close(code=ratelimit.TOO_MANY_SOCKETS_CODE)
            return
        self.session_watch.ticks.append(self.socket_slot.renew)
        await self.session_watch.start()
        turns.ensure_sweeper()
        await self._join_person_group()

    async def disconnect(self, code: int) -> None:
        self.recording = None  # dropped before audio.end: nothing of it is stored
        metrics.socket_closed(self.channel_name, code)
        await self.session_watch.stop()
        await self.socket_slot.release()
        await self._follow(None)
        await self._leave_person_group()

    async def session_ended(self, event: dict[str, Any]) -> None:
        """Called when this socket's session ended (logout anywhere, expiry): close, handle no more frames."""
        await self.close(code=session_watch.SESSION_ENDED_CODE)
        await self.websocket_disconnect({"code": session_watch.SESSION_ENDED_CODE})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        logcontext.bind(conversation_id=self.conversation_id, request_id=logcontext.new_id())
        async with self._errors_answered(None) as answer:
            if text_data is None:
                self._on_audio_chunk(bytes_data or b"")
                return
            frame = protocol.parse(
                text_data, max_bytes=settings.CHAT_MAX_FRAME_BYTES, max_text_chars=settings.CHAT_MAX_MESSAGE_CHARS
            )
            answer.client_id = getattr(frame, "client_id", None)
            logcontext.bind(conversation_id=getattr(frame, "conversation_id", None) or self.conversation_id)
            metrics.frame_in(frame.type)
            await getattr(self, "on_" + frame.type.replace(".", "_"))(frame)

    @contextlib.asynccontextmanager
    async def _errors_answered(self, client_id: str | None) -> AsyncIterator[_Answering]:
        """Whatever handling a frame raises becomes one error frame answering it; the socket stays usable."""
        answering = _Answering(client_id)
        try:
            yield answering
        except ClientError as exc:
            await self._send(
                protocol.error_frame(
                    exc.code, exc.message, client_id=exc.client_id or answering.client_id, retry_after=exc.retry_after
                )
            )
        except SOCKET_GONE:
            log.info("Client went away while its frame was handled")
        except Exception:
            log.exception("Frame handling failed")
            await self._send(
                protocol.error_frame(ErrorCode.INTERNAL, "Internal error; it has been logged.", client_id=answering.client_id)
            )

    async def on_message_send(self, frame: protocol.MessageSend) -> None:
        await ratelimit.check_message(self.user, frame.client_id)
        await self._accept(
            frame.client_id, frame.conversation_id, frame.text, frame.persona_ids, frame.rounds, frame.speak,
            edit_of=frame.edit_of,
        )

    async def _accept(
        self, client_id: str, conversation_id: int | None, text: str, persona_ids: list[int] | None, rounds: int,
        speak: bool, audio: services.AudioFile | None = None, edit_of: int | None = None,
    ) -> None:
        """A person's message, typed or transcribed: stored, acknowledged to this socket, and its reply started."""

        async def acknowledge(accepted: services.Accepted) -> None:
            conversation, message = accepted.conversation, accepted.message
            assert conversation is not None and message is not None
            await self._follow(conversation.pk)
            if accepted.created_conversation:
                participants = selectors.participants_shown(accepted.participants)  # the send made them: no read
                await self._send({
                    "type": "conversation.created", "conversation_id": conversation.pk,
                    "title": conversation.title, "client_id": client_id, "participants": participants,
                })
            # Straight to the sender: by the time a group frame arrived it may follow another conversation.
            await self._send(frames.message_created(message))
            if accepted.outcome is Outcome.CREATED and accepted.after_seq is not None:  # an edit: a new branch
                await turns.publish(conversation.pk, frames.conversation_branched(conversation.pk, accepted.after_seq, client_id=client_id))
            elif accepted.outcome is Outcome.CREATED:
                await turns.publish(conversation.pk, frames.message_created(message), skip=self.channel_name)

        try:
            accepted = await turns.accept(
                owner=self.user, conversation_id=conversation_id, text=text, client_id=client_id,
                announce=acknowledge, persona_ids=persona_ids, rounds=rounds, speak=speak, audio=audio, edit_of=edit_of,
            )
        except services.Invalid as exc:
            raise ClientError(ErrorCode.INVALID_FRAME, exc.message, client_id) from None
        self._refuse_unless_accepted(accepted, client_id)

    @staticmethod
    def _refuse_unless_accepted(accepted: services.Accepted, client_id: str) -> None:
        if accepted.outcome is Outcome.TOO_MANY_REPLIES:
            limit = settings.CHAT_MAX_CONCURRENT_REPLIES
            raise ClientError(
                ErrorCode.RATE_LIMITED,
                f"You already have {limit} replies being written; wait for one to finish.", client_id,
            )
        if accepted.outcome is Outcome.NOT_FOUND:
            raise ClientError(ErrorCode.NOT_FOUND, "No such conversation.", client_id)
        if accepted.outcome is Outcome.BUSY:
            raise ClientError(ErrorCode.BUSY, "A reply is still being written; stop it or wait.", client_id)
        if accepted.outcome is Outcome.CLIENT_ID_USED:
            raise ClientError(ErrorCode.CLIENT_ID_USED, services.used_elsewhere("client_id", accepted), client_id)

    # --- versions and branches: regenerate, switch (chat/branches.py) ---------------------------------

    async def on_message_regenerate(self, frame: protocol.MessageRegenerate) -> None:
        await ratelimit.check_message(self.user, frame.client_id)

        async def announce(accepted: services.Accepted) -> None:
            question = accepted.message
            assert question is not None
            await self._follow(frame.conversation_id)
            if accepted.outcome is Outcome.CREATED:
                assert accepted.after_seq is not None
                branched = frames.conversation_branched(frame.conversation_id, accepted.after_seq, client_id=frame.client_id)
                await turns.publish(frame.conversation_id, branched)
            else:  # resent: this socket may have missed the first answer
                await self._show_branch(question.seq, frame.client_id)

        try:
            accepted = await turns.regenerate(
                owner=self.user, conversation_id=frame.conversation_id, client_id=frame.client_id,
                announce=announce, speak=frame.speak,
            )
        except services.Invalid as exc:
            raise ClientError(ErrorCode.INVALID_FRAME, exc.message, frame.client_id) from None
        self._refuse_unless_accepted(accepted, frame.client_id)

    async def on_branch_show(self, frame: protocol.BranchShow) -> None:
        await ratelimit.check_replay(self.user)  # every tab of the conversation replays the branch shown
        switched = await database_sync_to_async(services.branch_switch)(
            owner=self.user, conversation_id=frame.conversation_id, seq=frame.seq
        )
        if switched.outcome is Outcome.NOT_FOUND:
            raise ClientError(ErrorCode.NOT_FOUND, "No such message in your conversations.")
        if switched.outcome is Outcome.BUSY:
            raise ClientError(ErrorCode.BUSY, "A reply is still being written; switch versions when it has finished.")
        await self._follow(frame.conversation_id)
        if switched.outcome is Outcome.SHOWN:
            await turns.publish(frame.conversation_id, frames.conversation_branched(frame.conversation_id, switched.after_seq))

    async def _show_branch(self, after_seq: int, client_id: str = "") -> None:
        """The branch shown changed after after_seq: this socket's tab is told, then sent the new branch's page."""
        page = await follow.page_after(self.conversation_id, after_seq)
        self.delivery = follow.Delivery()  # what it held after after_seq is gone from its page
        await self._send(page.branched(self.conversation_id, after_seq, client_id))
        if not await self._replay(await page.frames()):
            return
        if page.streaming:  # the turn sends its unsaved text and any confirmation it waits for
            await turns.send_control(self.conversation_id, {"type": "turn.sync", "reply_channel": self.channel_name})

    # --- voice messages: audio.start, binary chunks, audio.end / audio.cancel (chat/voice.py) -----------

    async def on_audio_start(self, frame: protocol.AudioStart) -> None:
        if self.recording is not None:
            raise ClientError(
                ErrorCode.INVALID_FRAME, "A recording is already open on this socket; end or cancel it first.",
                frame.client_id,
            )
        self.recording = voice.Recording(frame)
        try:
            protocol.check_audio_format(frame)
            if frame.conversation_id is not None:
                await self._owned(frame.conversation_id, frame.client_id)
        except ClientError:
            # Refused once: its chunks, already on the way, are dropped until its audio.end or audio.cancel.
            self.recording.refused = True
            raise

    def _on_audio_chunk(self, chunk: bytes) -> None:
        if self.recording is None:
            raise ClientError(
                ErrorCode.BINARY_NOT_SUPPORTED, "Binary frames are accepted only during a recording (after audio.start)."
            )
        self.recording.add(chunk)

    async def on_audio_cancel(self, frame: protocol.AudioCancel) -> None:
        if self.recording is not None and self.recording.client_id == frame.client_id:
            self.recording = None

    async def on_audio_end(self, frame: protocol.AudioEnd) -> None:
        recording = self.recording
        if recording is None or recording.client_id != frame.client_id:
            raise ClientError(ErrorCode.NOT_RECORDING, "No recording with this client_id is open.", frame.client_id)
        self.recording = None
        if recording.refused:
            return  # its error was sent when it broke the limit
        # Transcribing takes seconds: off this socket's receive loop, which must keep handling frames.
        task = asyncio.create_task(self._send_recording(recording))
        self.voice_tasks.add(task)
        task.add_done_callback(self.voice_tasks.discard)

    async def _send_recording(self, recording: voice.Recording) -> None:
        start = recording.start
        async with self._errors_answered(start.client_id):
            await ratelimit.check_message(self.user, start.client_id)
            earlier = await database_sync_to_async(selectors.user_message_sent)(
                owner=self.user, conversation_id=start.conversation_id, client_id=start.client_id
            )
            if earlier is not None:  # a resend: acknowledged with what is stored, never transcribed again
                await self._follow(earlier.conversation_id)
                await self._send(frames.message_created(earlier))
                return
            text, audio = await voice.transcribe(recording)
            await self._accept(start.client_id, start.conversation_id, text, start.persona_ids, 1, start.speak, audio)

    async def on_conversation_open(self, frame: protocol.ConversationOpen) -> None:
        conversation = await self._owned(frame.conversation_id)
        await ratelimit.check_replay(self.user)
        await self._follow(conversation.pk)
        # The client says what it holds (last_seq): the replay sends the rest, whatever this socket sent before.
        self.delivery = follow.Delivery()
        page = await follow.open_page(conversation, frame.last_seq)
        await self._send(await page.opened(conversation, frame.last_seq))
        if page.branched_after is not None:  # what it holds is no longer the branch shown
            await self._send(page.branched(conversation.pk, page.branched_after, ""))
        if not await self._replay(await page.frames()):
            return
        if page.streaming:  # the turn sends its unsaved text and any confirmation it waits for
            await turns.send_control(conversation.pk, {"type": "turn.sync", "reply_channel": self.channel_name})

    async def _replay(self, replayed: list[dict[str, Any]], *, live: bool = True) -> bool:
        """Send stored frames, waiting while the page has not read what it was sent (chat/backpressure.py).

        `live`: the frames join what this socket follows (de-duplicated with live frames), as a reopen's do;
        older pages go out as they are. False when the page stopped reading and the socket was closed."""
        for frame in replayed:
            if live:
                await self.chat_frame({"frame": frame}, replayed=True)
            else:
                await self._send(frame)
            if not await backpressure.drained(self.scope):
                log.info("Closing a socket (%s) that did not read its replay within %g s",
                         backpressure.NOT_READING_CODE, settings.CHAT_SEND_BUFFER_WAIT_SECONDS)
                await self.close(code=backpressure.NOT_READING_CODE)
                return False
        return True

    async def on_history_before(self, frame: protocol.HistoryBefore) -> None:
        """Older messages of a long conversation, a page at a time, as the person scrolls up."""
        conversation = await self._owned(frame.conversation_id)
        await ratelimit.check_replay(self.user)
        page = await follow.page_before(conversation.pk, frame.before_seq)
        if not await self._replay(await page.frames(), live=False):
            return
        await self._send({
            "type": "history.page", "conversation_id": conversation.pk,
            "first_seq": page.messages[0].seq if page.messages else None, "has_earlier": page.has_earlier,
        })

    async def on_generation_stop(self, frame: protocol.GenerationStop) -> None:
        await self._owned(frame.conversation_id)
        if not await database_sync_to_async(selectors.reply_being_written)(conversation_id=frame.conversation_id):
            raise ClientError(ErrorCode.NOT_STREAMING, "Nothing is being written in this conversation.")
        await turns.send_control(frame.conversation_id, {"type": "turn.stop"})

    async def on_tool_confirm(self, frame: protocol.ToolConfirm) -> None:
        await self._owned(frame.conversation_id)
        if not await database_sync_to_async(selectors.message_streaming)(
            conversation_id=frame.conversation_id, tool_call_id=frame.call_id
        ):
            raise ClientError(ErrorCode.NOT_STREAMING, "That tool call is not waiting for an answer.")
        await turns.send_control(
            frame.conversation_id, {"type": "turn.confirm", "call_id": frame.call_id, "allow": frame.allow}
        )

    # --- the sidebar: rename, delete, and news of the person's other conversations ---------------

    async def on_conversation_rename(self, frame: protocol.ConversationRename) -> None:
        title = " ".join(frame.title.split())
        if await conversations.rename(owner=self.user, conversation_id=frame.conversation_id, title=title) is None:
            raise ClientError(ErrorCode.NOT_FOUND, "No such conversation.")

    async def on_conversation_delete(self, frame: protocol.ConversationDelete) -> None:
        outcome = await conversations.delete(owner=self.user, conversation_id=frame.conversation_id)
        if outcome is Outcome.NOT_FOUND:
            raise ClientError(ErrorCode.NOT_FOUND, "No such conversation.")
        if outcome is Outcome.BUSY:
            raise ClientError(ErrorCode.BUSY, "A reply is still being written in this conversation; stop it first.")

    async def person_frame(self, event: dict[str, Any]) -> None:
        """Called for news every tab of this person shows in its sidebar; a deleted conversation is left."""
        frame = event["frame"]
        if frame["type"] == "conversation.writing" and frame["conversation_id"] == self.conversation_id:
            return  # this tab follows it: assistant.started and turn.finished say the same
        if frame["type"] == "conversation.deleted" and frame["conversation_id"] == self.conversation_id:
            await self._follow(None)
        await self._send(frame)

    async def _join_person_group(self) -> None:
        self.person_group = conversations.person_group(self.user.pk)
        await self.channel_layer.group_add(self.person_group, self.channel_name)

    async def _leave_person_group(self) -> None:
        if getattr(self, "person_group", None):
            await self.channel_layer.group_discard(self.person_group, self.channel_name)
            self.person_group = None

    async def on_ping(self, frame: protocol.Ping) -> None:
        await self._send({"type": "pong", "nonce": frame.nonce})

    async def chat_frame(self, event: dict[str, Any], *, replayed: bool = False) -> None:
        """Called for every frame the engine publishes; drops what this socket already has (follow.Delivery)."""
        frame = event["frame"]
        if frame["conversation_id"] != self.conversation_id or event.get("skip") == self.channel_name:
            return
        if frame["type"] == "conversation.branched" and not replayed:
            await self._show_branch(frame["after_seq"], frame["client_id"])
            return
        frame, missing = self.delivery.admit(frame, replayed=replayed)
        if missing is not None:  # text went missing on the way: ask the turn for all of it
            await turns.send_control(self.conversation_id, {"type": "turn.sync", "reply_channel": self.channel_name})
        if frame is None:
            return
        metrics.relayed(event)
        await self._send(frame)

    async def _follow(self, conversation_id: int | None) -> None:
        if conversation_id == self.conversation_id:
            return
        if self.conversation_id is not None:
            await self.channel_layer.group_discard(turns.conversation_group(self.conversation_id), self.channel_name)
        self.conversation_id, self.delivery = conversation_id, follow.Delivery()
        if conversation_id is not None:
            await self.channel_layer.group_add(turns.conversation_group(conversation_id), self.channel_name)

    async def _owned(self, conversation_id: int, client_id: str | None = None) -> Any:
        conversation = await database_sync_to_async(selectors.conversation_get_owned)(
            owner=self.user, conversation_id=conversation_id
        )
        if conversation is None:
            raise ClientError(ErrorCode.NOT_FOUND, "No such conversation.", client_id)
        return conversation

    async def _send(self, frame: dict[str, Any]) -> None:
        with contextlib.suppress(*SOCKET_GONE):  # closing or dropped: nobody is left to read it
            await self.send(text_data=json.dumps(frame))
            metrics.frame_out(frame)
