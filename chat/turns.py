"""The turn engine: user message -> LLM stream -> tool calls -> results -> LLM ... -> final reply.

A turn runs as a task of its own, decoupled from any socket. It publishes frames to the
conversation's group (every tab, any process) and listens on the turn's control group for
stop, tool confirmations and sync requests (a reopened tab asking for the text so far).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import DEFAULT_CHANNEL_LAYER, BaseChannelLayer, channel_layers, get_channel_layer
from django.conf import settings

from chat import selectors, services
from chat.frames import assistant_completed, assistant_delta, assistant_started, tool_finished, tool_started
from chat.llm import get_llm
from chat.llm.base import ChatMessage, Finish, LLMError, LLMRequest, Started, TextDelta, ToolCall, ToolCallData
from chat.models import Conversation, Message
from chat.tools import get_hub
from chat.tools.base import HubTool, ToolResult

log = logging.getLogger(__name__)

_running: dict[int, Turn] = {}


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def control_group(conversation_id: int) -> str:
    return f"turn.{conversation_id}"


def is_running(conversation_id: int) -> bool:
    return conversation_id in _running


def running_turns() -> list[Turn]:
    return list(_running.values())


async def publish(conversation_id: int, frame: dict[str, Any]) -> None:
    await get_channel_layer().group_send(conversation_group(conversation_id), {"type": "chat.frame", "frame": frame})


def _control_layer() -> BaseChannelLayer:
    """The layer a turn listens on for stop, confirm and sync.

    channels_redis serialises the receives of one instance behind a single blocking read, and a
    turn's listener, cancelled at every turn's end, stalled the consumers' receives now and then;
    so under Redis each turn listens through an instance of its own. The in-memory layer keeps
    its groups inside the instance, so there the shared one is the only one that works.
    """
    layer = get_channel_layer()
    if hasattr(layer, "close_pools"):
        return channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    return layer


async def send_control(conversation_id: int, event: dict[str, Any]) -> None:
    await get_channel_layer().group_send(control_group(conversation_id), event)


@dataclass(frozen=True)
class Accepted:
    conversation: Conversation
    message: Message
    created_conversation: bool
    resent: bool


@database_sync_to_async
def accept_message(*, owner: Any, conversation_id: int | None, text: str, client_id: str) -> Accepted | None:
    """Store the person's message (a resent client id returns the stored one); None if not theirs."""
    if conversation_id is None:
        earlier = Message.objects.filter(
            conversation__owner=owner, client_id=client_id, role=Message.Role.USER
        ).select_related("conversation").first()
        if earlier is not None:
            return Accepted(earlier.conversation, earlier, created_conversation=False, resent=True)
        conversation = services.conversation_create(owner=owner, first_text=text)
        created = True
    else:
        conversation = selectors.conversation_get_owned(owner=owner, conversation_id=conversation_id)
        if conversation is None:
            return None
        created = False
    message, fresh = services.user_message_create(conversation_id=conversation.pk, text=text, client_id=client_id)
    return Accepted(conversation, message, created_conversation=created, resent=not fresh)


def start_turn(conversation_id: int) -> Turn:
    """Start generating a reply in the background; the caller must not await it."""
    turn = Turn(conversation_id)
    _running[conversation_id] = turn
    turn.task = asyncio.create_task(turn.run(), name=f"turn-{conversation_id}")
    return turn


class Turn:
    def __init__(self, conversation_id: int) -> None:
        self.conversation_id = conversation_id
        self.task: asyncio.Task[None] | None = None
        self._work: asyncio.Task[None] | None = None
        self._current: Message | None = None  # the assistant or tool message being produced
        self._text = ""
        self._confirmations: dict[str, asyncio.Future[bool]] = {}
        self._tools: dict[str, HubTool] = {}  # offered in the current round, by qualified name

    async def run(self) -> None:
        layer = _control_layer()
        channel = await layer.new_channel()
        await layer.group_add(control_group(self.conversation_id), channel)
        listener = asyncio.create_task(self._listen(layer, channel))
        self._work = asyncio.create_task(self._rounds())
        try:
            await asyncio.shield(self._work)
        except asyncio.CancelledError:
            self._work.cancel()  # the process is going away: stop the reply, store it as stopped
            await asyncio.wait([self._work], timeout=5)
            raise
        finally:
            # Not busy from the moment the work ends: a cancelled channels_redis receive may take
            # its whole block timeout (5 s) to return, and the next message must not wait for it.
            _running.pop(self.conversation_id, None)
            listener.cancel()
            await layer.group_discard(control_group(self.conversation_id), channel)
            await asyncio.wait([listener], timeout=6)
            if layer is not get_channel_layer():
                await layer.close_pools()

    async def _listen(self, layer: BaseChannelLayer, channel: str) -> None:
        try:
            await self._take_control_events(layer, channel)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Turn in conversation %s stopped listening for stop and confirm", self.conversation_id)

    async def _take_control_events(self, layer: BaseChannelLayer, channel: str) -> None:
        while True:
            event = await layer.receive(channel)
            kind = event.get("type")
            if kind == "turn.stop" and self._work is not None:
                self._work.cancel()
            elif kind == "turn.confirm":
                future = self._confirmations.get(event.get("call_id", ""))
                if future is not None and not future.done():
                    future.set_result(bool(event.get("allow")))
            elif kind == "turn.sync" and self._current is not None and self._current.role == Message.Role.ASSISTANT:
                frame = assistant_delta(self._current, 0, self._text)
                await layer.send(event["reply_channel"], {"type": "chat.frame", "frame": frame})

    async def _rounds(self) -> None:
        try:
            for _ in range(settings.CHAT_MAX_TOOL_ROUNDS):
                calls = await self._assistant_round()
                if not calls:
                    return
                for call in calls:
                    await self._run_tool(call)
            await self._fail_new(f"The model kept calling tools; stopped after {settings.CHAT_MAX_TOOL_ROUNDS} rounds.")
        except asyncio.CancelledError:
            await self._end_current(Message.Status.STOPPED, "")
        except Exception:
            log.exception("Turn in conversation %s failed", self.conversation_id)
            await self._end_current(Message.Status.FAILED, "Something went wrong on our side; the error is logged.")

    async def _assistant_round(self) -> list[ToolCall]:
        history = await _history(self.conversation_id)
        self._tools = {tool.spec.name: tool for tool in await get_hub().list_tools()}
        message = await _create(self.conversation_id, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING)
        self._current, self._text = message, ""
        await publish(self.conversation_id, assistant_started(message))
        calls: list[ToolCall] = []
        saved_at = time.monotonic()
        try:
            async for event in get_llm().stream(LLMRequest(history, [tool.spec for tool in self._tools.values()])):
                if isinstance(event, TextDelta) and event.text:
                    offset, self._text = len(self._text), self._text + event.text
                    await publish(self.conversation_id, assistant_delta(message, offset, event.text))
                    if time.monotonic() - saved_at >= settings.CHAT_SAVE_INTERVAL_SECONDS:
                        saved_at = time.monotonic()
                        await _update(message, content=self._text)
                elif isinstance(event, ToolCall):
                    calls.append(event)
                elif isinstance(event, Started):
                    message.provider, message.model = event.provider, event.model
                elif isinstance(event, Finish):
                    message.usage = event.usage
        except LLMError as exc:
            await self._end_current(Message.Status.FAILED, exc.message)
            return []
        message.tool_calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]
        await self._end_current(Message.Status.COMPLETE, "")
        return calls

    async def _run_tool(self, call: ToolCall) -> None:
        tool: HubTool | None = self._tools.get(call.name)
        message = await _create(
            self.conversation_id, role=Message.Role.TOOL, status=Message.Status.STREAMING,
            tool_call_id=call.id, tool_name=call.name, tool_arguments=call.arguments,
        )
        self._current = message
        await publish(self.conversation_id, tool_started(message))
        result: ToolResult | None = None
        if tool is not None and tool.confirm and not await self._confirmed(message):
            result = ToolResult("The call was declined by the user.", is_error=True, kind="declined")
        if result is None:
            result = await get_hub().call(call.name, call.arguments)
        message.content, message.is_error, message.tool_outcome = result.text, result.is_error, result.kind
        await self._end_current(Message.Status.COMPLETE, "")

    async def _confirmed(self, message: Message) -> bool:
        """Ask the person to allow the call; no answer within the bound counts as no."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._confirmations[message.tool_call_id] = future
        timeout = settings.MCP_CONFIRM_TIMEOUT_SECONDS
        await publish(self.conversation_id, tool_started(message, "tool.confirmation_requested", timeout_seconds=timeout))
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return False
        finally:
            self._confirmations.pop(message.tool_call_id, None)

    async def _end_current(self, status: str, error: str) -> None:
        """Store the message being produced in its final state and tell every tab."""
        message, self._current = self._current, None
        if message is None:
            return
        message.status, message.error = status, error
        if message.role == Message.Role.ASSISTANT:
            message.content = self._text
            await _update(
                message, content=message.content, status=status, error=error, tool_calls=message.tool_calls,
                provider=message.provider, model=message.model, usage=message.usage,
            )
            await publish(self.conversation_id, assistant_completed(message))
            return
        if status != Message.Status.COMPLETE:
            message.content, message.is_error, message.tool_outcome = "Stopped before the tool answered.", True, "stopped"
            message.status = Message.Status.STOPPED
        await _update(
            message, content=message.content, status=message.status, is_error=message.is_error,
            tool_outcome=message.tool_outcome,
        )
        await publish(self.conversation_id, tool_finished(message))

    async def _fail_new(self, reason: str) -> None:
        self._current = await _create(self.conversation_id, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING)
        self._text = ""
        await self._end_current(Message.Status.FAILED, reason)


async def _create(conversation_id: int, **fields: Any) -> Message:
    return await asyncio.shield(database_sync_to_async(services.message_create)(conversation_id=conversation_id, **fields))


async def _update(message: Message, **fields: Any) -> None:
    # Shielded: a stop arriving mid-write must not lose the write that records the stop.
    await asyncio.shield(database_sync_to_async(services.message_update)(message_id=message.pk, **fields))


@database_sync_to_async
def _history(conversation_id: int) -> list[ChatMessage]:
    """The conversation as the model sees it; every tool call is answered, even one that was stopped."""
    history = [ChatMessage(role="system", content=settings.CHAT_SYSTEM_PROMPT)]
    unanswered: list[ToolCallData] = []
    for message in selectors.message_list(conversation_id=conversation_id):
        if message.role != Message.Role.TOOL:
            history.extend(_unanswered_results(unanswered))
            unanswered = []
        if message.role == Message.Role.ASSISTANT:
            if message.status == Message.Status.STREAMING or (not message.content and not message.tool_calls):
                continue
            unanswered = [ToolCallData(c["id"], c["name"], c["arguments"]) for c in message.tool_calls]
            history.append(ChatMessage(role="assistant", content=message.content, tool_calls=tuple(unanswered)))
        elif message.role == Message.Role.TOOL:
            unanswered = [call for call in unanswered if call.id != message.tool_call_id]
            history.append(ChatMessage(
                role="tool", content=message.content, tool_call_id=message.tool_call_id,
                tool_name=message.tool_name, is_error=message.is_error,
            ))
        else:
            history.append(ChatMessage(role="user", content=message.content))
    return history + _unanswered_results(unanswered)


def _unanswered_results(calls: list[ToolCallData]) -> list[ChatMessage]:
    return [
        ChatMessage(role="tool", content="No result: the reply was stopped before this call ran.",
                    tool_call_id=call.id, tool_name=call.name, is_error=True)
        for call in calls
    ]


