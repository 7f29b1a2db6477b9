"""Outcome: what a write that claims or frees a conversation answered (created, resent, busy, ...)."""

from __future__ import annotations

import enum


class Outcome(enum.StrEnum):
    CREATED = "created"  # stored, and the conversation is claimed for a new reply
    RESENT = "resent"  # this client id was stored before: nothing new starts
    CLIENT_ID_USED = "client_id_used"  # the client id names the person's message in another conversation: refused
    BUSY = "busy"  # another reply holds the conversation's lease
    TOO_MANY_REPLIES = "too_many_replies"  # the person already has their limit of replies being written
    NOT_FOUND = "not_found"  # no such conversation, or not the person's (the same answer)
    DELETED = "deleted"
    SHOWN = "shown"  # another version is shown now (branch_switch)
    UNCHANGED = "unchanged"  # that version was shown already
