"""Per-person limits hold across every socket of that person: messages per window, and open sockets."""

import json
from contextlib import AsyncExitStack

import pytest
from django.conf import settings
from django.test import override_settings

from chat import ratelimit
from tests.support.socket import communicator, connected, receive_frame, run_turn, send_message, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@override_settings(CHAT_RATE_LIMIT_MESSAGES=3, CHAT_RATE_LIMIT_WINDOW_SECONDS=600)
async def test_at_the_limit_a_message_is_accepted_and_one_past_it_is_refused_with_when_to_retry(user):
    async with connected(user) as comm:
        for n in range(3):
            frames = await run_turn(comm, f"message {n}")
            assert frames[-1]["status"] == "complete"
        client_id = await send_message(comm, "one too many")
        error = await receive_frame(comm, "error")
    assert (error["code"], error["client_id"]) == ("rate_limited", client_id)
    assert 590 <= error["retry_after"] <= 600
    assert f"Try again in {error['retry_after']} s" in error["message"]


@override_settings(CHAT_RATE_LIMIT_MESSAGES=5, CHAT_RATE_LIMIT_WINDOW_SECONDS=600)
async def test_the_message_limit_is_per_person_across_five_sockets(user, other_user):
    async with AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connected(user)) for _ in range(5)]
        for comm in sockets:
            assert (await run_turn(comm, "hello"))[-1]["status"] == "complete"
        for comm in sockets:
            await send_message(comm, "more")
            assert (await receive_frame(comm, "error"))["code"] == "rate_limited"
        async with connected(other_user) as someone_else:
            assert (await run_turn(someone_else, "my own budget"))[-1]["status"] == "complete"


@override_settings(CHAT_MAX_SOCKETS_PER_PERSON=2)
async def test_a_socket_over_the_per_person_limit_is_closed_with_a_clear_error_until_one_closes(user):
    cookie = await session_cookie(user)
    async with connected(user), connected(user) as second:
        third = communicator(cookie)
        accepted, _ = await third.connect(timeout=5)
        assert accepted
        error = json.loads(await third.receive_from(timeout=5))
        assert (error["code"], "at most 2") == ("rate_limited", "at most 2") and "at most 2" in error["message"]
        assert await third.receive_output(timeout=5) == {"type": "websocket.close", "code": 4429}
        await third.disconnect()
        await second.disconnect()

        async with connected(user) as again:
            await send_message(again, "room again")
            await receive_frame(again, "message.created")


@pytest.mark.skipif(
    settings.CACHES["default"]["BACKEND"] != "django.core.cache.backends.db.DatabaseCache",
    reason="counts the database cache's queries; this run keeps the cache in Redis",
)
def test_a_message_inside_an_open_window_costs_the_database_cache_at_most_seven_queries(user, django_assert_max_num_queries):
    """Every message a person sends is counted before its turn starts, so the count is on the path to the first
    token: it took 17 queries (two adds, a get, an incr) until the window's start and count were read first."""
    key = f"chat:rate:messages:{user.pk}"
    assert ratelimit._hit(key, 2, 600) is None  # opens the window
    with django_assert_max_num_queries(7):
        assert ratelimit._hit(key, 2, 600) is None
    retry_after = ratelimit._hit(key, 2, 600)  # the third, past the limit of 2
    assert retry_after is not None and 599 <= retry_after <= 600
