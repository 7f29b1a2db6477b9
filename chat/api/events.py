"""The SSE stream of one conversation: the socket's frames over plain HTTP (chat/sse.py, docs/api.md)."""

from __future__ import annotations

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Header, Query, Router
from pydantic import Field

from chat import ratelimit, sse
from chat.api.conversations import owned
from chat.api.errors import Problem
from chat.api.schemas import In

router = Router(tags=["messages"])

LAST_EVENT_ID = Header(
    None, alias="Last-Event-ID",
    description="The id of the last event you got (`<seq>` or `<seq>:<characters>`); wins over `last_seq`.",
)
# One event of the stream, as a client's SSE parser yields it (the `data` is a frame's JSON, docs/protocol.md).
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "description": "The frame's type."},
        "data": {"type": "string", "description": "The frame as JSON."},
        "id": {"type": "string", "description": "`<seq>` or `<seq>:<characters>`: send it back as Last-Event-ID."},
        "retry": {"type": "integer"},
    },
}
EVENTS_OPENAPI = {
    "responses": {
        "200": {"description": "The event stream (never ends by itself before SSE_MAX_SECONDS).",
                "content": {"text/event-stream": {"schema": SSE_EVENT}}},
        "429": {"description": "Over CHAT_REPLAYS_PER_MINUTE streams opened; `Retry-After` says when to retry.",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
    },
}


class EventsQuery(In):
    last_seq: int = Field(default=0, ge=0, le=999_999_999_999, description="The highest seq you hold as final (0: everything).")


@router.get(
    "/conversations/{int:conversation_id}/events", response={200: None}, openapi_extra=EVENTS_OPENAPI,
    summary="Follow a conversation as Server-Sent Events",
    description="The socket's frames as `text/event-stream`: `event:` the frame type, `data:` its JSON, `id:` "
                "where to resume from. Replays what you miss after `last_seq` (or `Last-Event-ID`), then streams "
                "live; a `: keep-alive` comment every SSE_KEEPALIVE_SECONDS.",
)
async def conversation_events(
    request: HttpRequest, conversation_id: int, query: Query[EventsQuery], last_event_id: str | None = LAST_EVENT_ID,
) -> StreamingHttpResponse:
    resume = sse.resume_point(last_event_id, query.last_seq)
    if resume is None:
        raise Problem(422, "Last-Event-ID is not an event id of this stream.", errors=[
            {"field": "header.Last-Event-ID", "message": "expected <seq> or <seq>:<characters>", "type": "pattern"},
        ])
    conversation = await owned(request.auth, conversation_id)  # 404 before anything is streamed
    await ratelimit.check_replay(request.auth)
    response = StreamingHttpResponse(sse.stream(conversation, *resume), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and its kin: pass each event on at once
    return response
