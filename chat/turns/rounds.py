"""The rounds of one turn: LLM stream -> tool calls -> results -> LLM ... -> final reply.

Every message a round produces is stored and announced: created streaming, ended complete,
stopped or failed. A stop is a cancellation of the task running `run()`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat import metrics
from chat.documents.context import DocumentContext
from chat.documents.tool_server import CONVERSATION_META
from chat.frames import assistant_completed, assistant_delta, assistant_started, tool_finished, tool_started
from chat.llm import get_llm
from chat.llm.base import Finish, LLMError, LLMRequest, Started, TextDelta, ToolCall
from chat.models import Message
from chat.personas import Speaker
from chat.tools import get_hub
from chat.tools.base import HubTool, ToolResult
from chat.turns.fanout import ReplyText, publish
from chat.turns.history import prepare
from chat.turns.saver import InterimSaver, create, update

log = logging.getLogger(__name__)

OUR_FAULT = "Something went wrong on our side; the error is logged."
STOPPED_TOOL = "Stopped before the tool answered."
UNRUN_STOPPED = "Not run: the reply was stopped before this call."
UNRUN_FAILED = "Not run: the reply failed before this call."


class Rounds:
    """Produces the messages of one turn. `status` and `error` say how the turn ended."""

    def __init__(
        self, conversation_id: int, first_reply: Message | None, speaker: Speaker | None = None, last_seq: int = 0,
        meter: metrics.TurnMeter | None = None,
    ) -> None:
        """`first_reply` is the reply created with the person's message; None makes the first round create its own."""
        self.conversation_id = conversation_id
        self.speaker = speaker or Speaker.default()
        self.current: Message | None = first_reply  # the assistant or tool message being produced
        self.text: ReplyText | None = None
        self.saver: InterimSaver | None = None
        self.confirmations: dict[str, tuple[asyncio.Future[bool], dict[str, Any]]] = {}
        self.tools: dict[str, HubTool] = {}
        self.unrun: list[ToolCall] = []  # calls of this round not started yet
        self.status = Message.Status.COMPLETE
        self.error = ""
        self.last_seq = first_reply.seq if first_reply is not None else last_seq
        self.ending: asyncio.Future[None] | None = None  # the end being stored (end_current)
        self.meter = meter or metrics.TurnMeter()  # one per turn, shared by its speakers
        self.last_reply: Message | None = None  # the latest reply stored complete with text (read aloud on request)

    async def run(self) -> None:
        try:
            reply: Message | None = self.current
            for _ in range(settings.CHAT_MAX_TOOL_ROUNDS):
                self.unrun = await self._assistant_round(reply)
                reply = None
                if not self.unrun:
                    return
                while self.unrun:
                    await self._run_tool(self.unrun.pop(0))
            await self._fail_new(f"The model kept calling tools; stopped after {settings.CHAT_MAX_TOOL_ROUNDS} rounds.")
        except asyncio.CancelledError:
            await self.end_current(Message.Status.STOPPED, "")
            await self._answer_unrun(Message.Status.STOPPED, UNRUN_STOPPED)
        except Exception:
            log.exception("Turn in conversation %s failed", self.conversation_id)
            await self.end_current(Message.Status.FAILED, OUR_FAULT)
            await self._answer_unrun(Message.Status.FAILED, UNRUN_FAILED)

    async def _answer_unrun(self, status: str, text: str) -> None:
        """Every tool call the model made gets exactly one stored tool message, even one that never ran."""
        calls, self.unrun = self.unrun, []
        for call in calls:
            message = await create(
                self.conversation_id, role=Message.Role.TOOL, status=status, tool_call_id=call.id, **self._by(),
                tool_name=call.name, tool_arguments=call.arguments, content=text, is_error=True,
                tool_outcome="stopped" if status == Message.Status.STOPPED else "error",
            )
            self.last_seq = message.seq
            metrics.message_stored(message.role, status)
            await publish(self.conversation_id, tool_finished(message))

    def snapshot(self) -> list[dict[str, Any]]:
        """Frames that bring a reopened tab up to date with what is not stored yet."""
        frames = [frame for _, frame in self.confirmations.values()]
        if self.current is not None and self.current.role == Message.Role.ASSISTANT and self.text is not None:
            frames.insert(0, assistant_delta(self.current, 0, self.text.text))
        return frames

    def confirm(self, call_id: str, allow: bool) -> None:
        future = self.confirmations.get(call_id, (None, None))[0]
        if future is not None and not future.done():
            future.set_result(allow)

    async def _assistant_round(self, message: Message | None) -> list[ToolCall]:
        if message is None:
            message = self.current = await self._start(role=Message.Role.ASSISTANT)
            await publish(self.conversation_id, assistant_started(message))
        self.current = message
        self.text, self.saver = ReplyText(message), InterimSaver(message, settings.CHAT_SAVE_INTERVAL_SECONDS)
        speaker = self.speaker
        (history, documents), tools = await asyncio.gather(
            database_sync_to_async(prepare)(self.conversation_id, speaker), get_hub().list_tools()
        )
        tools = [tool for tool in tools if speaker.allows(tool.spec.name) and _offered(tool, documents)]
        self.tools = {tool.spec.name: tool for tool in tools}
        request = LLMRequest(
            history, [tool.spec for tool in tools], provider=speaker.provider, model=speaker.model,
            temperature=speaker.temperature,
        )
        calls: list[ToolCall] = []
        self.meter.stream_started()
        try:
            async for event in get_llm().stream(request):
                self.meter.saw(event)
                if isinstance(event, TextDelta) and event.text:
                    self.text.add(event.text)
                    self.saver.note(self.text)
                elif isinstance(event, ToolCall):
                    calls.append(event)
                elif isinstance(event, Started):
                    message.provider, message.model = event.provider, event.model
                elif isinstance(event, Finish):
                    message.usage = event.usage
        except LLMError as exc:
            await self.end_current(Message.Status.FAILED, exc.message)
            return []
        self.meter.stream_ended(message.usage)
        message.tool_calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]
        await self.end_current(Message.Status.COMPLETE, "")
        return calls

    async def _run_tool(self, call: ToolCall) -> None:
        tool = self.tools.get(call.name)
        message = await self._start(
            role=Message.Role.TOOL, tool_call_id=call.id, tool_name=call.name, tool_arguments=call.arguments
        )
        self.current = message
        await publish(self.conversation_id, tool_started(message))
        try:
            if tool is not None and tool.confirm and not await self._confirmed(message):
                result = ToolResult("The call was declined by the user.", is_error=True, kind="declined")
            else:
                context = {CONVERSATION_META: self.conversation_id}
                result = await metrics.tool_call(tool, get_hub().call(call.name, call.arguments, context))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The model is told and goes on; the card and the stored row say what broke.
            log.exception("Tool call %s in conversation %s failed unexpectedly", call.name, self.conversation_id)
            message.content = f"The tool call failed: {type(exc).__name__}: {exc}"[:2000]
            await self.end_current(Message.Status.FAILED, message.content)
            return
        message.content, message.is_error, message.tool_outcome = result.text, result.is_error, result.kind
        await self.end_current(Message.Status.COMPLETE, "")

    async def _confirmed(self, message: Message) -> bool:
        """Ask the person to allow the call; no answer within the bound counts as no."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        timeout = settings.MCP_CONFIRM_TIMEOUT_SECONDS
        frame = tool_started(message, "tool.confirmation_requested", timeout_seconds=timeout)
        self.confirmations[message.tool_call_id] = (future, frame)
        try:
            await publish(self.conversation_id, frame)
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return False
        finally:
            self.confirmations.pop(message.tool_call_id, None)

    def _by(self) -> dict[str, Any]:
        """The fields that say which participant wrote a message."""
        return {"participant_id": self.speaker.participant_id, "speaker": self.speaker.name}

    async def _start(self, **fields: Any) -> Message:
        creating = asyncio.ensure_future(
            create(self.conversation_id, status=Message.Status.STREAMING, **self._by(), **fields)
        )
        try:
            message = await asyncio.shield(creating)
        except asyncio.CancelledError:
            # Stopped while the row was being written: it becomes current, so the stop ends it too.
            done, _ = await asyncio.wait([creating], timeout=settings.CHAT_SHUTDOWN_SECONDS)
            if creating in done and not creating.cancelled() and creating.exception() is None:
                self.current = creating.result()
                self.last_seq = self.current.seq
            raise
        self.last_seq = message.seq
        return message

    async def end_current(self, status: str, error: str) -> None:
        """Store the message being produced in its final state and tell every tab.

        Once begun, an end runs to its stored final state even when the turn is stopped or cancelled
        meanwhile (its last delta still being published, say): the caller is released, the end goes on,
        and `settle` lets the turn wait for it before announcing `turn.finished`.
        """
        message, self.current = self.current, None
        if message is None:
            return
        self.ending = asyncio.ensure_future(self._end(message, status, error))
        try:
            await asyncio.shield(self.ending)
        except asyncio.CancelledError:
            await asyncio.wait([self.ending], timeout=settings.CHAT_SHUTDOWN_SECONDS)
            raise

    async def settle(self) -> None:
        """Wait (bounded) for an end still being stored."""
        if self.ending is not None and not self.ending.done():
            await asyncio.wait([self.ending], timeout=settings.CHAT_SHUTDOWN_SECONDS)

    async def _end(self, message: Message, status: str, error: str) -> None:
        if message.role == Message.Role.ASSISTANT:
            await self._end_assistant(message, status, error)
            return
        message.status, message.error = status, error
        if status == Message.Status.STOPPED:
            message.content, message.is_error, message.tool_outcome = STOPPED_TOOL, True, "stopped"
        elif status == Message.Status.FAILED:
            message.content, message.is_error, message.tool_outcome = message.content or error, True, "error"
        if status != Message.Status.COMPLETE:
            self.status, self.error = status, error
        await update(
            message, content=message.content, status=message.status, error=message.error, is_error=message.is_error,
            tool_outcome=message.tool_outcome,
        )
        metrics.message_stored(message.role, status)
        await publish(self.conversation_id, tool_finished(message))

    async def _end_assistant(self, message: Message, status: str, error: str) -> None:
        text, saver, self.text, self.saver = self.text, self.saver, None, None
        if text is not None and text.message is message:
            await text.flush()  # every delta goes out before the completed frame
            message.content = text.text
        if saver is not None:
            await saver.settle()
        message.status, message.error = status, error
        self.status, self.error = status, error
        await update(
            message, content=message.content, status=status, error=error, tool_calls=message.tool_calls,
            provider=message.provider, model=message.model, usage=message.usage,
        )
        metrics.message_stored(message.role, status)
        if status == Message.Status.COMPLETE and message.content.strip():
            self.last_reply = message
        # The frame renders the markdown (Pygments included): CPU work, done off the event loop.
        await publish(self.conversation_id, await asyncio.to_thread(assistant_completed, message))

    async def _fail_new(self, reason: str) -> None:
        self.current = await self._start(role=Message.Role.ASSISTANT)
        self.text = None
        await self.end_current(Message.Status.FAILED, reason)


def _offered(tool: HubTool, documents: DocumentContext | None) -> bool:
    """The document search is offered in research mode only, and only where there are documents."""
    return tool.server != "documents" or (documents is not None and documents.research)
