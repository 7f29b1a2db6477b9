"""The turn engine: the only code that starts, streams, stops and finishes a reply.

    fanout.py     groups, publish, reply text merged into deltas under load
    control.py    stop / confirm / sync from any tab on any process, one desk per process
    lifecycle.py  a turn's owner, lease and end (`turn.finished`); dead turns swept; SIGTERM
    leases.py     every running turn's lease renewed together, one UPDATE per interval
    rounds.py     LLM -> tools -> LLM, each message stored and announced
    history.py    what the model sees
    saver.py      shielded writes and interim saves that never multiply

The socket consumer (and any other door) calls `services.message_accept` and then `start_turn`.
"""

from chat.turns.control import control_group, send_control
from chat.turns.fanout import conversation_group, publish
from chat.turns.lifecycle import (
    Turn,
    accept,
    ensure_sweeper,
    finish_pending,
    install_shutdown_hook,
    regenerate,
    running_turns,
    shutdown,
    start_if_created,
    start_turn,
    stop_sweeper,
    sweep,
)

__all__ = [
    "Turn", "accept", "control_group", "conversation_group", "ensure_sweeper", "finish_pending", "install_shutdown_hook", "publish", "regenerate", "stop_sweeper",
    "running_turns", "send_control",
    "shutdown", "start_if_created", "start_turn", "sweep",
]
