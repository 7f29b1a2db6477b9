"""Every socket frame: parsing, validation and the stable error codes (docs/protocol.md)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class ErrorCode:
    INVALID_JSON = "invalid_json"
    INVALID_FRAME = "invalid_frame"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"
    BINARY_NOT_SUPPORTED = "binary_not_supported"
    NOT_FOUND = "not_found"
    BUSY = "busy"
    CLIENT_ID_USED = "client_id_used"
    RATE_LIMITED = "rate_limited"
    NOT_STREAMING = "not_streaming"
    UNSUPPORTED_AUDIO = "unsupported_audio"
    EMPTY_AUDIO = "empty_audio"
    NOT_RECORDING = "not_recording"
    TRANSCRIPTION_FAILED = "transcription_failed"
    INTERNAL = "internal_error"


class ClientError(Exception):
    """Raised anywhere while handling a frame; the consumer turns it into one error frame."""

    def __init__(self, code: str, message: str, client_id: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_id = client_id
        self.retry_after = retry_after


ClientId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
MAX_ID = 2**63 - 1  # the largest id a database stores: a larger one is refused here, not overflowed there
ConversationId = Annotated[int, Field(gt=0, le=MAX_ID, strict=True)]
Seq = Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageSend(_Frame):
    type: Literal["message.send"]
    conversation_id: ConversationId | None = None
    client_id: ClientId
    text: Annotated[str, Field(min_length=1)]
    # A new conversation's participants (personas, in answering order); omitted: the site's assistant.
    persona_ids: Annotated[list[Annotated[int, Field(gt=0, le=MAX_ID, strict=True)]], Field(min_length=1, max_length=16)] | None = None
    # How many rounds the participants discuss the message (a conversation with two or more).
    rounds: Annotated[int, Field(ge=1, le=100, strict=True)] = 1
    # Read the reply aloud when it completes ("Speak replies" on the page): an `assistant.audio` frame follows.
    speak: Annotated[bool, Field(strict=True)] = False
    # The seq of a message of the person's that this text is a new version of (edit and send again).
    edit_of: Seq | None = None


class MessageRegenerate(_Frame):
    """Write the last reply again; the earlier one stays as a version (docs/protocol.md "Versions and branches")."""

    type: Literal["message.regenerate"]
    conversation_id: ConversationId
    client_id: ClientId
    speak: Annotated[bool, Field(strict=True)] = False


class BranchShow(_Frame):
    """Show another version of a message (and the newest branch under it)."""

    type: Literal["branch.show"]
    conversation_id: ConversationId
    seq: Seq


AUDIO_FORMATS = ("pcm_s16le",)  # 16-bit little-endian mono PCM, as the page's AudioWorklet sends it
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 48000


class AudioStart(_Frame):
    """A voice message begins: binary frames with its audio follow, then `audio.end` (or `audio.cancel`)."""

    type: Literal["audio.start"]
    conversation_id: ConversationId | None = None
    client_id: ClientId
    format: Annotated[str, Field(max_length=40)]
    sample_rate: Annotated[int, Field(strict=True)]
    persona_ids: Annotated[list[Annotated[int, Field(gt=0, le=MAX_ID, strict=True)]], Field(min_length=1, max_length=16)] | None = None
    speak: Annotated[bool, Field(strict=True)] = False


class AudioEnd(_Frame):
    type: Literal["audio.end"]
    client_id: ClientId


class AudioCancel(_Frame):
    type: Literal["audio.cancel"]
    client_id: ClientId


class GenerationStop(_Frame):
    type: Literal["generation.stop"]
    conversation_id: ConversationId


class ConversationOpen(_Frame):
    type: Literal["conversation.open"]
    conversation_id: ConversationId
    last_seq: Annotated[int, Field(ge=0, strict=True)] = 0


class HistoryBefore(_Frame):
    type: Literal["history.before"]
    conversation_id: ConversationId
    before_seq: Annotated[int, Field(ge=1, strict=True)]


class ToolConfirm(_Frame):
    type: Literal["tool.confirm"]
    conversation_id: ConversationId
    call_id: Annotated[str, Field(min_length=1, max_length=128)]
    allow: Annotated[bool, Field(strict=True)]


class ConversationRename(_Frame):
    type: Literal["conversation.rename"]
    conversation_id: ConversationId
    title: Annotated[str, Field(min_length=1, max_length=200)]


class ConversationDelete(_Frame):
    type: Literal["conversation.delete"]
    conversation_id: ConversationId


class Ping(_Frame):
    type: Literal["ping"]
    nonce: Annotated[str, Field(max_length=64)] | None = None


ClientFrame = (
    MessageSend | GenerationStop | ConversationOpen | HistoryBefore | ToolConfirm | ConversationRename
    | ConversationDelete | Ping | AudioStart | AudioEnd | AudioCancel | MessageRegenerate | BranchShow
)
_FRAMES: dict[str, type[_Frame]] = {
    "message.send": MessageSend,
    "message.regenerate": MessageRegenerate,
    "branch.show": BranchShow,
    "generation.stop": GenerationStop,
    "conversation.open": ConversationOpen,
    "history.before": HistoryBefore,
    "tool.confirm": ToolConfirm,
    "conversation.rename": ConversationRename,
    "conversation.delete": ConversationDelete,
    "ping": Ping,
    "audio.start": AudioStart,
    "audio.end": AudioEnd,
    "audio.cancel": AudioCancel,
}
_ADAPTERS = {name: TypeAdapter(model) for name, model in _FRAMES.items()}


def parse(raw: str, *, max_bytes: int, max_text_chars: int) -> ClientFrame:
    """Turn one text frame into a validated frame object, or raise ClientError saying what is wrong."""
    if len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ClientError(ErrorCode.TOO_LARGE, f"Frame is larger than {max_bytes} bytes.")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ClientError(ErrorCode.INVALID_JSON, "Frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ClientError(ErrorCode.INVALID_FRAME, "Frame must be a JSON object.")
    client_id = data.get("client_id") if isinstance(data.get("client_id"), str) else None
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise ClientError(ErrorCode.INVALID_FRAME, "Frame has no 'type'.", client_id)
    if kind not in _ADAPTERS:
        raise ClientError(ErrorCode.UNKNOWN_TYPE, f"Unknown frame type {kind[:40]!r}.", client_id)
    try:
        frame = _ADAPTERS[kind].validate_python(data)
    except ValidationError as exc:
        raise ClientError(ErrorCode.INVALID_FRAME, _describe(exc), client_id) from None
    _refuse_unstorable_strings(frame, client_id)
    if isinstance(frame, MessageSend):
        if not frame.text.strip():
            raise ClientError(ErrorCode.INVALID_FRAME, "Message text is empty.", frame.client_id)
        if len(frame.text) > max_text_chars:
            raise ClientError(
                ErrorCode.TOO_LARGE, f"Message is longer than {max_text_chars} characters.", frame.client_id
            )
    if isinstance(frame, ConversationRename) and not frame.title.strip():
        raise ClientError(ErrorCode.INVALID_FRAME, "A title cannot be empty.")
    return frame


def check_audio_format(frame: AudioStart) -> None:
    """Raise ClientError (unsupported_audio) unless the recording's format is one the site takes."""
    if frame.format not in AUDIO_FORMATS:
        raise ClientError(
            ErrorCode.UNSUPPORTED_AUDIO,
            f"Unsupported audio format {frame.format[:40]!r}: send {' or '.join(AUDIO_FORMATS)} (16-bit mono PCM).",
            frame.client_id,
        )
    if not MIN_SAMPLE_RATE <= frame.sample_rate <= MAX_SAMPLE_RATE:
        raise ClientError(
            ErrorCode.UNSUPPORTED_AUDIO,
            f"Unsupported sample rate {frame.sample_rate}: from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz.",
            frame.client_id,
        )


def _refuse_unstorable_strings(frame: _Frame, client_id: str | None) -> None:
    """NUL is refused on every database alike: PostgreSQL cannot store it (pydantic refuses lone surrogates)."""
    for name, value in frame:
        if isinstance(value, str) and "\x00" in value:
            raise ClientError(ErrorCode.INVALID_FRAME, f"Invalid frame: {name} must not contain NUL characters.", client_id)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "frame"
        message = "unexpected field" if error["type"] == "extra_forbidden" else error["msg"]
        parts.append(f"{where}: {message}")
    return "Invalid frame: " + "; ".join(parts)


def error_frame(
    code: str,
    message: str,
    *,
    client_id: str | None = None,
    conversation_id: int | None = None,
    retry_after: int | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if client_id is not None:
        frame["client_id"] = client_id
    if conversation_id is not None:
        frame["conversation_id"] = conversation_id
    if retry_after is not None:
        frame["retry_after"] = retry_after
    return frame
