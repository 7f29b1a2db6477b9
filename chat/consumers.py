"""ChatConsumer: a thin adapter between socket frames and the turn engine (docs/protocol.md)."""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import frames, protocol, selectors, turns
from chat.models import Message
from chat.protocol import ClientError, ErrorCode

log = logging.getLogger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.conversation_id: int | None = None
        self.delivered: dict[int, int] = {}  # seq -> characters of that reply this socket already has
        self.sent_at: deque[float] = deque()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self._follow(None)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        client_id = None
        try:
            if text_data is None:
                raise ClientError(ErrorCode.BINARY_NOT_SUPPORTED, "Binary frames are not supported; send JSON text.")
            frame = protocol.parse(
                text_data, max_bytes=settings.CHAT_MAX_FRAME_BYTES, max_text_chars=settings.CHAT_MAX_MESSAGE_CHARS
            )
            client_id = getattr(frame, "client_id", None)
            await getattr(self, "on_" + frame.type.replace(".", "_"))(frame)
        except ClientError as exc:
            await self._send(protocol.error_frame(exc.code, exc.message, client_id=exc.client_id or client_id))
        except Exception:
            log.exception("Frame handling failed")
            await self._send(protocol.error_frame(ErrorCode.INTERNAL, "Internal error; it has been logged.", client_id=client_id))

    async def on_message_send(self, frame: protocol.MessageSend) -> None:
        self._check_rate(frame.client_id)
        if frame.conversation_id is not None and turns.is_running(frame.conversation_id):
            if not await _is_resend(frame.conversation_id, frame.client_id):
                raise ClientError(ErrorCode.BUSY, "A reply is still being written; stop it or wait.", frame.client_id)
        accepted = await turns.accept_message(
            owner=self.user, conversation_id=frame.conversation_id, text=frame.text, client_id=frame.client_id
        )
        if accepted is None:
            raise ClientError(ErrorCode.NOT_FOUND, "No such conversation.", frame.client_id)
        conversation = accepted.conversation
        await self._follow(conversation.pk)
        if accepted.created_conversation:
            await self._send({
                "type": "conversation.created", "conversation_id": conversation.pk,
                "title": conversation.title, "client_id": frame.client_id,
            })
        if accepted.resent:
            await self._send(frames.message_created(accepted.message))
            return
        await turns.publish(conversation.pk, frames.message_created(accepted.message))
        turns.start_turn(conversation.pk)

    async def on_conversation_open(self, frame: protocol.ConversationOpen) -> None:
        conversation = await self._owned(frame.conversation_id)
        await self._follow(conversation.pk)
        messages = await database_sync_to_async(selectors.message_list)(
            conversation_id=conversation.pk, after_seq=frame.last_seq
        )
        streaming = any(m.status == Message.Status.STREAMING for m in messages)
        await self._send({
            "type": "conversation.opened", "conversation_id": conversation.pk, "title": conversation.title,
            "last_seq": messages[-1].seq if messages else frame.last_seq, "streaming": streaming,
        })
        for message in messages:
            for replayed in frames.replay(message):
                await self.chat_frame({"frame": replayed})
        if streaming:
            await turns.send_control(conversation.pk, {"type": "turn.sync", "reply_channel": self.channel_name})

    async def on_generation_stop(self, frame: protocol.GenerationStop) -> None:
        await self._owned(frame.conversation_id)
        if not await _has_streaming(frame.conversation_id):
            raise ClientError(ErrorCode.NOT_STREAMING, "Nothing is being written in this conversation.")
        await turns.send_control(frame.conversation_id, {"type": "turn.stop"})

    async def on_tool_confirm(self, frame: protocol.ToolConfirm) -> None:
        await self._owned(frame.conversation_id)
        if not await _has_streaming(frame.conversation_id, tool_call_id=frame.call_id):
            raise ClientError(ErrorCode.NOT_STREAMING, "That tool call is not waiting for an answer.")
        await turns.send_control(
            frame.conversation_id, {"type": "turn.confirm", "call_id": frame.call_id, "allow": frame.allow}
        )

    async def on_ping(self, frame: protocol.Ping) -> None:
        await self._send({"type": "pong", "nonce": frame.nonce})

    async def chat_frame(self, event: dict[str, Any]) -> None:
        """Called for every frame the engine publishes; drops reply text this socket already has."""
        frame = event["frame"]
        if frame["conversation_id"] != self.conversation_id:
            return
        seq = frame.get("seq")
        if frame["type"] == "assistant.started":
            self.delivered.setdefault(seq, 0)
        elif frame["type"] == "assistant.delta":
            have = self.delivered.get(seq, 0)
            offset, text = frame["offset"], frame["text"]
            if offset > have or offset + len(text) <= have:
                return  # a gap (a sync will fill it) or text already sent
            frame = {**frame, "offset": have, "text": text[have - offset:]}
            self.delivered[seq] = have + len(frame["text"])
        elif frame["type"] == "assistant.completed":
            self.delivered.pop(seq, None)
        await self._send(frame)

    async def _follow(self, conversation_id: int | None) -> None:
        if conversation_id == self.conversation_id:
            return
        if self.conversation_id is not None:
            await self.channel_layer.group_discard(turns.conversation_group(self.conversation_id), self.channel_name)
        self.conversation_id, self.delivered = conversation_id, {}
        if conversation_id is not None:
            await self.channel_layer.group_add(turns.conversation_group(conversation_id), self.channel_name)

    async def _owned(self, conversation_id: int) -> Any:
        conversation = await database_sync_to_async(selectors.conversation_get_owned)(
            owner=self.user, conversation_id=conversation_id
        )
        if conversation is None:
            raise ClientError(ErrorCode.NOT_FOUND, "No such conversation.")
        return conversation

    def _check_rate(self, client_id: str) -> None:
        now, window = time.monotonic(), settings.CHAT_RATE_LIMIT_WINDOW_SECONDS
        while self.sent_at and now - self.sent_at[0] > window:
            self.sent_at.popleft()
        if len(self.sent_at) >= settings.CHAT_RATE_LIMIT_MESSAGES:
            raise ClientError(ErrorCode.RATE_LIMITED, f"Too many messages; wait up to {window:g} s.", client_id)
        self.sent_at.append(now)

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame))


@database_sync_to_async
def _is_resend(conversation_id: int, client_id: str) -> bool:
    return Message.objects.filter(conversation_id=conversation_id, client_id=client_id).exists()


@database_sync_to_async
def _has_streaming(conversation_id: int, tool_call_id: str | None = None) -> bool:
    messages = Message.objects.filter(conversation_id=conversation_id, status=Message.Status.STREAMING)
    if tool_call_id is not None:
        messages = messages.filter(role=Message.Role.TOOL, tool_call_id=tool_call_id)
    return messages.exists()
