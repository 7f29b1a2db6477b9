"""Starting a reply: accept a message (or an edit of one) or regenerate a reply, claiming the conversation's
lease in the same transaction; and switching the branch shown, which that lease also guards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from chat import branches, personas, selectors
from chat.models import Audio, Conversation, Message, Participant
from chat.services.audio import AudioFile, _audio_store, _forget_files
from chat.services.conversations import _add_participants, _title_from, _usable_personas
from chat.services.errors import Invalid
from chat.services.leases import _interrupt
from chat.services.messages import first_message_create, message_create
from chat.services.outcomes import Outcome


@dataclass(frozen=True)
class Accepted:
    outcome: Outcome
    conversation: Conversation | None = None
    message: Message | None = None  # the person's message (new or the stored one)
    reply: Message | None = None  # the assistant message the new turn writes into (CREATED only)
    created_conversation: bool = False
    token: str = ""  # the lease the new turn holds (CREATED only)
    speakers: tuple[personas.Speaker, ...] = ()  # who answers, in order (CREATED only); the first writes `reply`
    participants: tuple[Participant, ...] = ()  # the conversation's, in order (CREATED only)
    # Set when the shown branch changed (an edit, a regenerated reply): messages after this seq were replaced.
    after_seq: int | None = None



def message_accept(
    *, owner: AbstractBaseUser, conversation_id: int | None, text: str, client_id: str, token: str, lease_seconds: float,
    max_replies: int = 0, persona_ids: list[int] | None = None, rounds: int = 1, audio: AudioFile | None = None,
    edit_of: int | None = None,
) -> Accepted:
    """Store the person's message, claim the conversation for its reply and create that reply, in one transaction.

    The claim is a conditional UPDATE, so two sends at the same instant (on any process) give one
    CREATED and one BUSY. A resent client id is RESENT whatever the conversation is doing; one that names
    the person's message in another conversation is CLIENT_ID_USED, and nothing is stored. A voice
    message's `audio` (the recording) is stored with it, in the same transaction; a rollback deletes its file.
    `edit_of` names the seq of a message of the person's, on the shown branch, that this text is a new
    version of: the new message follows the original's parent, and the original stays as an earlier branch.
    """
    saved: list[Audio] = []
    try:
        with transaction.atomic():
            return _accept(
                owner, conversation_id, text, client_id, token, lease_seconds, max_replies, persona_ids, rounds,
                audio, saved, edit_of,
            )
    except IntegrityError:
        _forget_files(saved)
        # The same client id committed between our look-up and our insert: that is a resend.
        earlier = _earlier(owner, conversation_id, client_id)
        if earlier is None:
            raise
        return earlier
    except BaseException:
        _forget_files(saved)
        raise



def _accept(
    owner: Any, conversation_id: int | None, text: str, client_id: str, token: str, lease: float, max_replies: int,
    persona_ids: list[int] | None, rounds: int, audio: AudioFile | None, saved: list[Audio], edit_of: int | None,
) -> Accepted:
    now = timezone.now()
    until = now + timedelta(seconds=lease)
    if conversation_id is not None and not Conversation.objects.filter(owner=owner, pk=conversation_id).exists():
        return Accepted(Outcome.NOT_FOUND)
    earlier = _earlier(owner, conversation_id, client_id)
    if earlier is not None:
        return earlier
    if not 1 <= rounds <= settings.CHAT_MAX_DISCUSSION_ROUNDS:
        raise Invalid("rounds", f"Rounds must be from 1 to {settings.CHAT_MAX_DISCUSSION_ROUNDS}.")
    if edit_of is not None and conversation_id is None:
        raise Invalid("edit_of", "An edited message names its conversation.")
    if max_replies and _replies_being_written(owner, now) >= max_replies:
        return Accepted(Outcome.TOO_MANY_REPLIES)
    if conversation_id is None:
        chosen = _usable_personas(owner, persona_ids)
        conversation = Conversation.objects.create(
            owner=owner, title=_title_from(text), turn_token=token, turn_lease_until=until
        )
        participants = _add_participants(conversation, chosen)
    else:
        if persona_ids:
            raise Invalid("persona_ids", "Participants are chosen when a conversation starts.")
        free = Q(turn_token="") | Q(turn_lease_until__lt=now)
        if not Conversation.objects.filter(free, pk=conversation_id).update(
            turn_token=token, turn_lease_until=until, updated_at=now
        ):
            earlier = _earlier(owner, conversation_id, client_id)  # it may have committed while we waited
            return earlier or Accepted(Outcome.BUSY)
        _interrupt(conversation_id)  # a lease that expired left its reply streaming
        conversation = Conversation.objects.get(pk=conversation_id)
        participants = list(conversation.participants.all())
    after_seq = _branch_for_edit(conversation.pk, edit_of) if edit_of is not None else None
    recording = _audio_store(conversation.pk, audio, saved) if audio is not None else None
    # A conversation made above has no message yet: its first needs no savepoint, lock or read (5 statements).
    create = first_message_create if conversation_id is None else message_create
    message = create(
        conversation_id=conversation.pk, role=Message.Role.USER, content=text, client_id=client_id, audio=recording
    )
    if rounds > 1 and len(participants) < 2:
        raise Invalid("rounds", "Rounds of discussion need at least two participants.")
    speakers = personas.schedule(participants, text, rounds)
    reply = message_create(
        conversation_id=conversation.pk, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING,
        participant_id=speakers[0].participant_id, speaker=speakers[0].name, after=message,
    )
    return Accepted(Outcome.CREATED, conversation, message, reply, created_conversation=conversation_id is None,
                    token=token, speakers=tuple(speakers), participants=tuple(participants), after_seq=after_seq)



def _branch_for_edit(conversation_id: int, seq: int) -> int:
    """Show the branch up to the message before the edited one, which its new version then follows."""
    edited = Message.objects.filter(conversation_id=conversation_id, seq=seq).select_related("parent").first()
    if edited is None or edited.role != Message.Role.USER:
        raise Invalid("edit_of", f"Message {seq} is not a message of yours in this conversation.")
    if not edited.shown:
        raise Invalid("edit_of", f"Message {seq} is not on the branch shown; switch to it first.")
    return branches.show(conversation_id, edited.parent)



def reply_regenerate(
    *, owner: AbstractBaseUser, conversation_id: int, client_id: str, token: str, lease_seconds: float,
    max_replies: int = 0,
) -> Accepted:
    """Answer the person's last message on the shown branch again; the earlier reply stays as a version.

    The same claim as a sent message (one reply per conversation at a time). The new reply carries
    `client_id`, so a resent regenerate is RESENT and starts nothing. Accepted.message is the question.
    """
    try:
        with transaction.atomic():
            return _regenerate(owner, conversation_id, client_id, token, lease_seconds, max_replies)
    except IntegrityError:
        earlier = _earlier_reply(conversation_id, client_id)
        if earlier is None:
            raise
        return Accepted(Outcome.RESENT, earlier.conversation, earlier.parent, earlier)



def _regenerate(owner: Any, conversation_id: int, client_id: str, token: str, lease: float, max_replies: int) -> Accepted:
    now = timezone.now()
    if not Conversation.objects.filter(owner=owner, pk=conversation_id).exists():
        return Accepted(Outcome.NOT_FOUND)
    earlier = _earlier_reply(conversation_id, client_id)
    if earlier is not None:
        return Accepted(Outcome.RESENT, earlier.conversation, earlier.parent, earlier)
    if max_replies and _replies_being_written(owner, now) >= max_replies:
        return Accepted(Outcome.TOO_MANY_REPLIES)
    free = Q(turn_token="") | Q(turn_lease_until__lt=now)
    until = now + timedelta(seconds=lease)
    if not Conversation.objects.filter(free, pk=conversation_id).update(turn_token=token, turn_lease_until=until):
        return Accepted(Outcome.BUSY)
    _interrupt(conversation_id)
    conversation = Conversation.objects.get(pk=conversation_id)
    question = selectors.last_question(conversation_id=conversation_id)
    if question is None:
        raise Invalid("conversation_id", "There is no reply to regenerate: nothing has been asked in this conversation.")
    after_seq = branches.show(conversation_id, question)
    speakers = personas.schedule(list(conversation.participants.all()), question.content, 1)
    reply = message_create(
        conversation_id=conversation_id, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING,
        participant_id=speakers[0].participant_id, speaker=speakers[0].name, client_id=client_id,
    )
    return Accepted(Outcome.CREATED, conversation, question, reply, token=token, speakers=tuple(speakers),
                    after_seq=after_seq)



def _earlier_reply(conversation_id: int, client_id: str) -> Message | None:
    return (Message.objects.filter(conversation_id=conversation_id, client_id=client_id, role=Message.Role.ASSISTANT)
            .select_related("conversation", "parent").first())



@dataclass(frozen=True)
class Switched:
    outcome: Outcome  # SHOWN, UNCHANGED, BUSY or NOT_FOUND (no such conversation of the person's, or no such message)
    after_seq: int = 0  # SHOWN: what is shown changed after this seq



def branch_switch(*, owner: AbstractBaseUser, conversation_id: int, seq: int) -> Switched:
    """Show the version at `seq` (and, below it, the newest version at every step) instead of its sibling.

    Refused (BUSY) while a reply is being written: the turn appends to the branch shown. The claim is
    a conditional UPDATE of the conversation's row, so a send at the same instant waits for the switch
    or wins whole.
    """
    with transaction.atomic():
        if not Conversation.objects.filter(owner=owner, pk=conversation_id).exists():
            return Switched(Outcome.NOT_FOUND)
        chosen = Message.objects.filter(conversation_id=conversation_id, seq=seq).first()
        if chosen is None:
            return Switched(Outcome.NOT_FOUND)
        free = Q(turn_token="") | Q(turn_lease_until__lt=timezone.now())
        if not Conversation.objects.filter(free, pk=conversation_id).update(turn_lease_until=F("turn_lease_until")):
            return Switched(Outcome.BUSY)
        if chosen.shown:
            return Switched(Outcome.UNCHANGED)
        tree = branches.Tree(conversation_id)
        leaf = Message.objects.get(pk=tree.newest_leaf(chosen.pk))
        return Switched(Outcome.SHOWN, branches.show(conversation_id, leaf, tree))



def _replies_being_written(owner: Any, now: Any) -> int:
    """Live leases of this person's conversations, counted under a lock on the person's row, so two
    sends at once on two processes cannot both take the last place."""
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    return Conversation.objects.filter(owner=owner, turn_lease_until__gte=now).exclude(turn_token="").count()



def used_elsewhere(name: str, accepted: Accepted) -> str:
    """What a CLIENT_ID_USED refusal says, on the socket (`name` "client_id") and the API ("Idempotency-Key")."""
    assert accepted.message is not None and accepted.conversation is not None
    return (f"{name} {accepted.message.client_id!r} already names your message in conversation "
            f"{accepted.conversation.pk}; a new message needs a new {name}.")


def _earlier(owner: Any, conversation_id: int | None, client_id: str) -> Accepted | None:
    """RESENT when the person's message under this client id is in the conversation named (any, for a new
    conversation); CLIENT_ID_USED when it is in another one: a client id names one message of the person's,
    so reusing it elsewhere is refused rather than stored twice. None for a client id not used yet."""
    earlier = selectors.user_message_sent(owner=owner, conversation_id=None, client_id=client_id)
    if earlier is None or conversation_id is None or earlier.conversation_id == conversation_id:
        return Accepted(Outcome.RESENT, earlier.conversation, earlier) if earlier else None
    # Rows stored twice before this check existed: the one in the conversation named is the resend.
    here = selectors.user_message_sent(owner=owner, conversation_id=conversation_id, client_id=client_id)
    if here is not None:
        return Accepted(Outcome.RESENT, here.conversation, here)
    return Accepted(Outcome.CLIENT_ID_USED, earlier.conversation, earlier)
