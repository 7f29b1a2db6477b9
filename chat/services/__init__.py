"""Writes. Every change to conversations and messages goes through a function here (reads: chat/selectors.py).

One module per responsibility; every public name is re-exported here, so callers use `services.X`:

    conversations.py  create (with participants), rename, delete; titles
    personas.py       a person's personas: create, update, delete, checks; the built-in ones
    messages.py       append a message to the shown branch; save a reply as it grows
    sending.py        accept a message or an edit, regenerate a reply (each claiming the lease); switch branch
    leases.py         renew (one turn's, or all of a process's at once) and release leases; sweep dead turns
    audio.py          recordings and replies read aloud, through the storage API
    tokens.py         API tokens
    errors.py         Invalid
    outcomes.py       Outcome

A test that monkeypatches a name must patch the module that uses it (e.g. chat.services.messages), not this one.
"""

from chat.services.audio import AudioFile, speech_attach
from chat.services.conversations import TITLE_CHARS, conversation_create, conversation_delete, conversation_rename
from chat.services.errors import Invalid
from chat.services.leases import INTERRUPTED, turn_lease_release, turn_leases_renew, turn_sweep
from chat.services.messages import message_contents_save, message_create, message_update
from chat.services.outcomes import Outcome
from chat.services.personas import (
    PERSONA_FIELDS,
    persona_create,
    persona_delete,
    persona_update,
    personas_ensure_builtin,
)
from chat.services.sending import (
    Accepted,
    Switched,
    branch_switch,
    message_accept,
    reply_regenerate,
    used_elsewhere,
)
from chat.services.tokens import (
    TOKEN_PREFIX,
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
    token_digest,
)

__all__ = [
    "INTERRUPTED",
    "PERSONA_FIELDS",
    "TITLE_CHARS",
    "TOKEN_PREFIX",
    "Accepted",
    "AudioFile",
    "Invalid",
    "Outcome",
    "Switched",
    "api_token_authenticate",
    "api_token_create",
    "api_token_revoke",
    "branch_switch",
    "conversation_create",
    "conversation_delete",
    "conversation_rename",
    "message_accept",
    "message_contents_save",
    "message_create",
    "message_update",
    "persona_create",
    "persona_delete",
    "persona_update",
    "personas_ensure_builtin",
    "reply_regenerate",
    "speech_attach",
    "token_digest",
    "turn_lease_release",
    "turn_leases_renew",
    "turn_sweep",
    "used_elsewhere",
]
