"""One person's hostile message must not stall anyone else: another person's ping stays fast."""

import asyncio
import time

import pytest

from chat.testing.socket import connected, final_reply, of_type, receive_frame, run_turn, send

pytestmark = pytest.mark.django_db(transaction=True)

LAG_BOUND_SECONDS = 1.0


async def _ping_round_trips(comm, until: asyncio.Task) -> list[float]:
    """Ping over and over until the task ends; the round trip of each ping."""
    trips = []
    while not until.done():
        started = time.monotonic()
        await send(comm, "ping", nonce=str(len(trips)))
        await receive_frame(comm, "pong", timeout=30)
        trips.append(time.monotonic() - started)
    return trips


async def test_a_hostile_demo_input_and_a_huge_calculation_do_not_stall_another_persons_socket(user, other_user):
    async with connected(user) as attacker, connected(other_user) as bystander:

        async def attack():
            hostile = await run_turn(attacker, "what is" + " " * 400 + "x", timeout=30)
            huge = await run_turn(attacker, "what is ((9^999)^999)^10", timeout=30)
            return hostile, huge

        attack_task = asyncio.create_task(attack())
        trips = await _ping_round_trips(bystander, attack_task)
        hostile, huge = await attack_task

    assert "offline demo model" in final_reply(hostile)["text"]
    finished = of_type(huge, "tool.finished")[0]
    assert finished["is_error"] and "more than 1000 digits" in finished["result"]
    assert "more than 1000 digits" in final_reply(huge)["text"]
    assert trips and max(trips) < LAG_BOUND_SECONDS, f"another person's ping took up to {max(trips):.2f} s"


CODE_BLOCK = "```python\n" + "\n".join(
    f"def f{i}(x):\n    return [x * {i} for _ in range(10)]  # comment {i}" for i in range(40)
) + "\n```\n\n"


async def test_rendering_a_huge_reply_full_of_code_does_not_stall_another_persons_socket(user, other_user, model):
    """~400 KB of highlighted code takes seconds to render: it must not be seconds of the event loop."""
    text = CODE_BLOCK * 150
    model.says(text)
    async with connected(user) as writer, connected(other_user) as bystander:
        reply_task = asyncio.create_task(run_turn(writer, "show me a lot of code", timeout=60))
        trips = await _ping_round_trips(bystander, reply_task)
        frames = await reply_task

    done = final_reply(frames)
    assert done["status"] == "complete" and done["text"] == text and "<pre" in done["html"]
    assert trips and max(trips) < LAG_BOUND_SECONDS, f"another person's ping took up to {max(trips):.2f} s"
