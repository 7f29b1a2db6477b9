from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The lease of the turn writing a reply here: one turn at a time, across every process. A turn
    # renews it while it runs; an expired lease means its process died (chat/turns/lifecycle.py).
    turn_token = models.CharField(max_length=64, blank=True, default="")
    turn_lease_until = models.DateTimeField(null=True, blank=True)
    # The person's documents this conversation talks about, and how the model gets them (docs/documents.md).
    documents = models.ManyToManyField("Document", blank=True, related_name="conversations")
    document_mode = models.CharField(
        max_length=16, choices=[("quote", "quote"), ("research", "research")], default="quote",
        help_text="quote: the documents' text goes into the context; research: the model searches them with a tool.",
    )
    # The newest message of the branch the conversation shows (chat/branches.py): the person picks it with a
    # version switcher, and a regenerated reply or an edited message becomes it. Null: no message yet, or
    # the first message was edited and its new version is not stored yet.
    shown_leaf = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The last message of the shown branch; every message on the path to it has `shown` set.",
    )

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"]), models.Index(fields=["turn_lease_until"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Persona(models.Model):
    """A named system prompt with a provider and model. Built-in personas have no owner and are shared."""

    NAME_PATTERN = r"^\w[\w .'-]{0,39}$"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="personas",
        help_text="Empty for a built-in persona, which every person can use and nobody can change.",
    )
    name = models.CharField(max_length=40, help_text="Shown on its replies; `@name` addresses it.")
    system_prompt = models.TextField(max_length=8000)
    provider = models.CharField(max_length=100, blank=True, help_text="A configured provider tried first; empty: the chain's order.")
    model = models.CharField(max_length=200, blank=True, help_text="The model asked of that provider; empty: its configured one.")
    temperature = models.FloatField(null=True, blank=True)
    tools = models.JSONField(null=True, blank=True, help_text="Tool names it may use; null: every tool.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner_id", "name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="persona_unique_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    @property
    def builtin(self) -> bool:
        return self.owner_id is None


class Participant(models.Model):
    """A persona taking part in a conversation, copied when the conversation starts.

    The copy keeps a conversation (and the labels of its stored replies) as it was when a persona
    is later edited or deleted. `position` is the order of answering.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    persona = models.ForeignKey(Persona, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=40)
    system_prompt = models.TextField(max_length=8000)
    provider = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    tools = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["conversation", "position"]
        constraints = [models.UniqueConstraint(fields=["conversation", "position"], name="participant_unique_position")]

    def __str__(self) -> str:
        return f"{self.name} in {self.conversation_id}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        TOOL = "tool"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        FAILED = "failed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField(help_text="Per-conversation sequence number, from 1.")
    # The conversation is a tree (chat/branches.py): each message follows its parent, and the first
    # message (each version of it) has none. Messages with the same parent are versions of one another.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children",
        help_text="The message this one follows; null for a first message.",
    )
    shown = models.BooleanField(
        default=True, help_text="On the branch the conversation shows (the path to its shown_leaf).",
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    tool_calls = models.JSONField(default=list, blank=True, help_text="[{id, name, arguments}] on assistant messages.")
    tool_call_id = models.CharField(max_length=128, blank=True)
    tool_name = models.CharField(max_length=200, blank=True)
    tool_arguments = models.JSONField(default=dict, blank=True, help_text="On tool messages: the call's arguments.")
    tool_outcome = models.CharField(max_length=16, blank=True, help_text="On tool messages: result, error, timeout, …")
    is_error = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    error = models.TextField(blank=True, help_text="Why the message failed, in words a person can read.")
    client_id = models.CharField(max_length=64, blank=True)
    participant = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages",
        help_text="On assistant and tool messages of a conversation with personas: who wrote it.",
    )
    speaker = models.CharField(max_length=40, blank=True, help_text="The participant's name, kept with the message.")
    provider = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    audio = models.OneToOneField(
        "Audio", null=True, blank=True, on_delete=models.SET_NULL, related_name="message",
        help_text="The person's recording (a voice message) or the reply spoken (speak replies).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["conversation", "seq"]
        indexes = [models.Index(fields=["client_id"])]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~models.Q(client_id=""),
                name="message_unique_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq} {self.role}"


def _audio_path(instance: Audio, filename: str) -> str:
    return f"audio/{instance.conversation_id}/{uuid.uuid4().hex}.wav"


class Audio(models.Model):
    """A sound file of a conversation, stored through Django's storage API and played back only to its owner."""

    class Kind(models.TextChoices):
        RECORDING = "recording"  # what the person said; its transcript is the user message
        SPEECH = "speech"  # a reply read aloud

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="audio")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    file = models.FileField(upload_to=_audio_path, max_length=200)
    content_type = models.CharField(max_length=100, default="audio/wav")
    duration_ms = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} in {self.conversation_id}"


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 digest of the secret is stored; `prefix` lets a person tell tokens apart."""

    PREFIX_CHARS = 12

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_CHARS, help_text="The token's first characters, shown to tell it apart.")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the whole token, hex.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Document(models.Model):
    """A file a person uploaded, its extracted text, and where the file is kept (Django's storage API)."""

    class TextStatus(models.TextChoices):
        EXTRACTED = "extracted"
        CUT = "cut"  # longer than DOCUMENTS_MAX_TEXT_CHARS: the rest was not kept

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents")
    name = models.CharField(max_length=200, help_text="The uploaded file's name, made safe.")
    file = models.FileField(max_length=300, help_text="Stored under MEDIA_ROOT (or the configured storage); never served directly.")
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    sha256 = models.CharField(max_length=64)
    pages = models.PositiveIntegerField(null=True, blank=True, help_text="A PDF's page count; empty for text files.")
    chars = models.PositiveIntegerField(help_text="Characters of extracted text kept.")
    text_status = models.CharField(max_length=16, choices=TextStatus.choices, default=TextStatus.EXTRACTED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "sha256"], name="document_unique_content_per_owner")]

    def __str__(self) -> str:
        return self.name


class DocumentChunk(models.Model):
    """A passage of a document's text, on one page: what research mode searches (chat/documents/index.py)."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField(help_text="Order in the document, from 0.")
    page = models.PositiveIntegerField(null=True, blank=True, help_text="1-based page of a PDF; empty for text files.")
    text = models.TextField()

    class Meta:
        ordering = ["document", "position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="chunk_unique_position")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position}"
