"""The conversation as a tree: versions of a reply, edited messages as branches, and the branch shown.

Every message has its parent, the message it follows (none for a first message), and its parent's seq
is lower than its own, so the tree has no cycle. Messages with the same parent are versions of one
another: a regenerated reply is a new child of the person's message, an edited message a new child
of the message before the original. Nothing is deleted: an earlier version and what followed it stay,
one switch away.

The conversation stores the branch it shows as `shown_leaf`, and every message on the path from the
first message to that leaf has `shown` set. What reads the conversation (the history the model is
sent, the replay, the API's list, the export's Markdown, search) reads shown messages with one filter.
`show` is the only code that changes either; `services.message_create` extends the branch by one.

Callers hold the conversation while they change it: a turn's lease (services.message_accept,
services.reply_regenerate) or the conditional claim in services.branch_switch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Q

from chat.models import Conversation, Message

UPDATE_BATCH = 500  # ids per `pk IN (...)`: well inside every database's limit on parameters


class Tree:
    """A conversation's messages as (id, parent, seq, shown): one query, no text."""

    def __init__(self, conversation_id: int) -> None:
        rows = Message.objects.filter(conversation_id=conversation_id).values_list("pk", "parent_id", "seq", "shown")
        self.parent: dict[int, int | None] = {}
        self.seq: dict[int, int] = {}
        self.shown: set[int] = set()
        self.children: dict[int | None, list[int]] = defaultdict(list)
        for pk, parent_id, seq, shown in rows.order_by("seq"):
            self.parent[pk], self.seq[pk] = parent_id, seq
            self.children[parent_id].append(pk)
            if shown:
                self.shown.add(pk)

    def newest_leaf(self, pk: int) -> int:
        """The end of the branch under `pk` that was written last: the newest version at every step down."""
        while self.children.get(pk):
            pk = self.children[pk][-1]
        return pk

    def path_to(self, pk: int | None) -> list[int]:
        """The ids from the first message down to `pk`."""
        path: list[int] = []
        while pk is not None and len(path) <= len(self.parent):
            path.append(pk)
            pk = self.parent[pk]
        return path[::-1]


def show(conversation_id: int, leaf: Message | None, tree: Tree | None = None) -> int:
    """Make the path to `leaf` the shown branch (None: no message shown, before a new first message).

    Returns the seq after which what is shown changed: messages up to it stay, those after it are
    replaced (0: from the first message). Costs two or three UPDATEs; a leaf that is not on the shown
    branch (a switch to another version) reads the conversation's tree first, unless the caller has it.
    """
    if leaf is None or leaf.shown:
        fork_seq, newly_shown = (leaf.seq if leaf else 0), []
    else:
        tree = tree or Tree(conversation_id)
        path = tree.path_to(leaf.pk)
        kept = [pk for pk in path if pk in tree.shown]  # the shared start of the old and the new branch
        fork_seq = tree.seq[kept[-1]] if kept else 0
        newly_shown = [pk for pk in path if pk not in tree.shown]
    Message.objects.filter(conversation_id=conversation_id, shown=True, seq__gt=fork_seq).update(shown=False)
    for start in range(0, len(newly_shown), UPDATE_BATCH):
        Message.objects.filter(pk__in=newly_shown[start:start + UPDATE_BATCH]).update(shown=True)
    Conversation.objects.filter(pk=conversation_id).update(shown_leaf=leaf)
    return fork_seq


def parted_at(conversation_id: int, seq: int) -> int | None:
    """None when message `seq` is on the branch shown (or does not exist); otherwise the seq of its newest
    ancestor that is (0: none is), where a client holding `seq` must drop what follows."""
    message = Message.objects.filter(conversation_id=conversation_id, seq=seq).values_list("pk", "shown").first()
    if message is None or message[1]:
        return None
    tree = Tree(conversation_id)
    kept = [pk for pk in tree.path_to(message[0]) if pk in tree.shown]
    return tree.seq[kept[-1]] if kept else 0


def versions(conversation_id: int, messages: Iterable[Message]) -> dict[int, list[int]]:
    """For each of `messages` that has other versions: the seqs of all its versions, oldest first (one query)."""
    messages = list(messages)
    parents = {m.parent_id for m in messages}
    if not parents:
        return {}
    siblings = Q(parent_id__in=[p for p in parents if p is not None])
    if None in parents:
        siblings |= Q(parent__isnull=True)
    found: dict[int | None, list[int]] = defaultdict(list)
    rows = Message.objects.filter(siblings, conversation_id=conversation_id).values_list("parent_id", "seq")
    for parent_id, seq in rows.order_by("seq"):
        found[parent_id].append(seq)
    return {m.seq: found[m.parent_id] for m in messages if len(found[m.parent_id]) > 1}


def problems(conversation: Conversation, messages: list[Message]) -> list[str]:
    """What is wrong with a conversation's tree (tests/support/integrity.py checks every test's database).

    Every parent exists in the same conversation and comes earlier (so no cycle, and everything
    reaches the conversation's root), and the shown messages are exactly the path to `shown_leaf`.
    """
    found: list[str] = []
    by_pk = {m.pk: m for m in messages}
    for m in messages:
        if m.parent_id is not None and (m.parent_id not in by_pk or by_pk[m.parent_id].seq >= m.seq):
            found.append(f"#{m.seq} has parent {m.parent_id}, not an earlier message of its conversation")
    if found:
        return found
    path: list[int] = []
    pk = conversation.shown_leaf_id
    if pk is not None and pk not in by_pk:
        return [f"shown_leaf {pk} is not a message of the conversation"]
    while pk is not None:
        path.append(by_pk[pk].seq)
        pk = by_pk[pk].parent_id
    shown = [m.seq for m in messages if m.shown]
    if sorted(path) != shown:
        found.append(f"shown messages {shown[:30]} are not the path to the shown leaf {sorted(path)[:30]}")
    return found
