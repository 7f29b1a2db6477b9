"""Request and response bodies of the API (pydantic, through Ninja's Schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, StrictBool


def _storable(value: str) -> str:
    """Refuse what no database stores alike: NUL (PostgreSQL cannot) and lone surrogates (not UTF-8)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]
MAX_ID = 2**63 - 1  # the largest id a database stores: a larger one is a 422, never the database's overflow


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class ParticipantOut(Schema):
    id: int
    name: str
    persona_id: int | None = Field(description="The persona it was copied from; null once that persona is deleted.")


class ConversationOut(Schema):
    id: int
    title: str
    participants: list[ParticipantOut] = Field(description="The AI participants, in answering order; empty: the site's assistant.")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_participants(conversation: Any) -> list[Any]:
        return list(conversation.participants.all())


class ConversationPage(Schema):
    items: list[ConversationOut]
    count: int = Field(description="Conversations matching the search, on every page.")
    limit: int
    offset: int


PersonaIds = Annotated[
    list[Annotated[int, Field(gt=0, le=MAX_ID)]], Field(min_length=1, max_length=16, description="Personas, in answering order.")
]
Rounds = Annotated[int, Field(ge=1, le=100, description="Rounds of discussion among two or more participants.")]


class ConversationCreate(In):
    title: Annotated[Text, Field(max_length=200)] = ""
    persona_ids: PersonaIds | None = None


class ConversationRename(In):
    title: Annotated[Text, Field(min_length=1, max_length=200)]


class MessageOut(Schema):
    id: int
    conversation_id: int
    seq: int
    role: str = Field(description="user, assistant or tool")
    status: str = Field(description="streaming, complete, stopped or failed")
    content: str
    error: str
    client_id: str
    tool_calls: list[dict[str, Any]]
    tool_call_id: str
    tool_name: str
    tool_arguments: dict[str, Any]
    tool_outcome: str
    is_error: bool
    provider: str
    model: str
    usage: dict[str, Any]
    participant_id: int | None = Field(description="The participant who wrote it, in a conversation with personas.")
    speaker: str = Field(description="That participant's name; empty otherwise.")
    parent_seq: int | None = Field(default=None, description="The seq of the message this one follows; null for a first message.")
    shown: bool = Field(description="Whether it is on the branch the conversation shows.")
    versions: list[int] = Field(
        default_factory=list,
        description="The seqs of this message's versions (itself among them), oldest first, when it has others; empty otherwise.",
    )
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_parent_seq(message: Any) -> int | None:
        return message.parent_seq  # annotated by every selector that reads messages for the API

    @staticmethod
    def resolve_versions(message: Any) -> list[int]:
        return getattr(message, "versions", [])


class MessagePage(Schema):
    items: list[MessageOut]
    next_after_seq: int | None = Field(description="Pass as after_seq for the next page; null when this is the last.")


class SendIn(In):
    text: Annotated[Text, Field(min_length=1)]
    rounds: Rounds = 1
    edit_of: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        default=None,
        description="The seq of a message of yours, on the branch shown, that this text is a new version of: the "
                    "messages after the original become an earlier branch (kept, and shown again with /branch).",
    )


class BranchIn(In):
    seq: Annotated[int, Field(ge=1, le=2**31 - 1, description="The message whose version to show.")]


class BranchOut(Schema):
    changed: bool = Field(description="False when that version was shown already.")
    after_seq: int = Field(description="Messages after this seq were replaced on the branch shown (0: from the first).")
    shown_seqs: list[int] = Field(description="The seqs of the branch shown now, in order.")


class SendAnywhereIn(SendIn):
    conversation_id: Annotated[int, Field(gt=0, le=MAX_ID)] | None = Field(
        default=None, description="Omit or null to start a new conversation."
    )
    persona_ids: PersonaIds | None = Field(default=None, description="A new conversation's participants, in order.")


PersonaName = Annotated[Text, Field(min_length=1, max_length=40, pattern=r"^\w[\w .'-]{0,39}$")]
SystemPrompt = Annotated[Text, Field(min_length=1, max_length=8000)]
ProviderName = Annotated[Text, Field(max_length=100, description="A configured provider tried first; empty: the chain's order.")]
ModelName = Annotated[Text, Field(max_length=200, description="The model asked of that provider; empty: its configured one.")]
Temperature = Annotated[float, Field(ge=0, le=2)]
ToolNames = Annotated[list[Annotated[Text, Field(min_length=1, max_length=200)]], Field(max_length=200)]


class PersonaIn(In):
    name: PersonaName
    system_prompt: SystemPrompt
    provider: ProviderName = ""
    model: ModelName = ""
    temperature: Temperature | None = None
    tools: ToolNames | None = Field(default=None, description="Tool names it may use; null: every tool.")


class PersonaPatch(In):
    name: PersonaName | None = None
    system_prompt: SystemPrompt | None = None
    provider: ProviderName | None = None
    model: ModelName | None = None
    temperature: Temperature | None = None
    tools: ToolNames | None = None


class PersonaOut(Schema):
    id: int
    name: str
    system_prompt: str
    provider: str
    model: str
    temperature: float | None
    tools: list[str] | None
    builtin: bool = Field(description="Built-in personas are shared by everyone and cannot be changed.")
    created_at: datetime
    updated_at: datetime


class SendOut(Schema):
    conversation_id: int
    message: MessageOut
    reply_id: int | None = Field(description="The assistant message being written in answer (its id).")
    reply_seq: int | None
    created_conversation: bool = Field(description="Whether this send (its first time) started a new conversation.")


class ConfirmIn(In):
    allow: StrictBool


class AcceptedOut(Schema):
    detail: str


class ProviderOut(Schema):
    name: str
    family: str
    model: str


class ProvidersOut(Schema):
    label: str = Field(description="What the chat page shows as the model.")
    offline: bool = Field(description="True when the offline demo model answers (no provider configured).")
    providers: list[ProviderOut] = Field(description="Tried in this order: each one falls back to the next.")


class MeOut(Schema):
    id: int
    username: str
    email: str


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    active: bool


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown in this answer only, never again.")


class TokenIn(In):
    name: Annotated[Text, Field(min_length=1, max_length=100)]


class ProblemOut(Schema):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


class DocumentOut(Schema):
    id: int
    name: str = Field(description="The uploaded file's name, made safe.")
    content_type: str
    size: int = Field(description="Bytes.")
    sha256: str
    pages: int | None = Field(description="A PDF's page count; null for text files.")
    chars: int = Field(description="Characters of extracted text kept.")
    text_status: str = Field(description="extracted, or cut when the text was longer than DOCUMENTS_MAX_TEXT_CHARS.")
    created_at: datetime


class DocumentList(Schema):
    items: list[DocumentOut]
    total_bytes: int = Field(description="What your documents take, against DOCUMENTS_MAX_TOTAL_BYTES.")
    limit_bytes: int


class DocumentBrief(Schema):
    id: int
    name: str
    content_type: str
    size: int
    pages: int | None
    chars: int
    text_status: str


class ConversationDocuments(Schema):
    conversation_id: int
    document_mode: str = Field(description="quote or research (docs/documents.md).")
    documents: list[DocumentBrief]
    quote_cut: bool = Field(description="In quote mode: the documents are longer than the quote budget and are cut.")


class AttachIn(In):
    document_ids: list[Annotated[int, Field(gt=0, le=MAX_ID)]] = Field(min_length=1, max_length=50)


class ModeIn(In):
    mode: Literal["quote", "research"]
