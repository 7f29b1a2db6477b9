"""One person's hostile message must not stall anyone else: another person's ping stays fast."""

import asyncio
import time

import pytest

from chat import calc
from tests.support.calculations import calculation_taking
from tests.support.socket import connected, final_reply, of_type, receive_frame, run_turn, send

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


async def test_a_calculation_inside_its_time_limit_answers_and_one_past_it_is_stopped_at_the_limit(
    user, other_user, model, settings, monkeypatch
):
    """CHAT_CALCULATOR_TIMEOUT_SECONDS at its boundary: half the limit gives the result, a runaway calculation
    ends as a tool error naming the limit after about the limit, and neither holds up another person's socket."""
    settings.CHAT_CALCULATOR_TIMEOUT_SECONDS = 1.0
    model.calls("builtin__calculator", {"expression": "1+1"}).says("Two.")  # starts the worker process
    model.calls("builtin__calculator", {"expression": "6*7"}).says("It is 42.")
    model.calls("builtin__calculator", {"expression": "6*8"}).says("That calculation took too long.")
    async with connected(user) as asker, connected(other_user) as bystander:
        warm = await run_turn(asker, "warm up", timeout=30)
        assert of_type(warm, "tool.finished")[0]["result"] == "2"

        async def ask(seconds: float, text: str) -> list:
            monkeypatch.setattr(calc, "calculate", calculation_taking(seconds))
            return await run_turn(asker, text, timeout=30)

        inside_task = asyncio.create_task(ask(0.5, "what is 6*7, slowly"))
        trips = await _ping_round_trips(bystander, inside_task)
        over_task = asyncio.create_task(ask(5, "what is 6*8, far too slowly"))
        trips += await _ping_round_trips(bystander, over_task)
        inside, over = await inside_task, await over_task

    answered = of_type(inside, "tool.finished")[0]
    assert (answered["is_error"], answered["result"]) == (False, "42")
    assert final_reply(inside)["text"] == "It is 42."
    stopped = of_type(over, "tool.finished")[0]
    assert stopped["is_error"] and stopped["result"].endswith("The calculation was stopped: it took longer than 1 s.")
    assert 1000 <= stopped["duration_ms"] < 1400, f"stopped after {stopped['duration_ms']} ms, the limit is 1,000"
    assert final_reply(over)["status"] == "complete"  # the reply goes on after the tool error
    assert trips and max(trips) < LAG_BOUND_SECONDS, f"another person's ping took up to {max(trips):.2f} s"
