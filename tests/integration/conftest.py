import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.db import connections

from chat import tools, turns
from chat.turns import leases as lease_keeper
from chat.turns.control import close_desk
from tests.support.integrity import history_problems
from tests.support.providers import SCRIPTED
from tests.support.scripted_model import ScriptedModel


@pytest.fixture
def model(use_providers: Any, mocked: responses.RequestsMock) -> ScriptedModel:
    """The site's one provider is a scripted model at a real URL, answered through `responses`."""
    use_providers(SCRIPTED)
    return ScriptedModel().serve(mocked)


@pytest.fixture
def use_providers(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Configure the chain for one test (tests/support/providers.py); the settings change rebuilds it and its breakers."""
    monkeypatch.setenv("LLM_TEST_KEY", "sk-test-key")

    def configure(*providers: dict[str, Any]) -> None:
        settings.LLM_PROVIDERS = json.dumps(list(providers))

    return configure


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(scope="session", autouse=True)
async def thread_connections_closed_at_the_end(django_db_setup: None, django_db_blocker: Any):
    """ORM calls from async code keep a persistent connection (CONN_MAX_AGE) on channels' database
    thread; close it before the test database is dropped, which PostgreSQL refuses while it is open.

    Other threads keep theirs too: HTTP requests through the ASGI application run their synchronous
    parts on HTTP_THREADS long-lived threads (chatsite/http_threads.py), each with a connection of its
    own. Nothing can close another thread's connection, so on PostgreSQL the session ends them from the
    server side, which is what the warning "database ... is being accessed by other users" at teardown
    was about."""
    yield
    with django_db_blocker.unblock():
        await database_sync_to_async(connections.close_all)()
        await asyncio.to_thread(_end_other_sessions)


def _end_other_sessions() -> None:
    connection = connections["default"]  # this thread's own, closed again below
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    finally:
        connection.close()


@pytest.fixture(autouse=True)
async def no_turn_or_session_outlives_its_test(request: pytest.FixtureRequest):
    """Each test ends with no reply being written, no MCP session open and no channel layer left,
    and leaves an intact history (tests/support/integrity.py).

    A fresh channel layer per test keeps groups and buffered frames from leaking between tests.
    """
    yield
    await _finish_turns_and_sessions()
    marked = request.node.get_closest_marker
    if marked("django_db") and not marked("leaves_broken_history"):
        problems = await database_sync_to_async(history_problems)()
        assert not problems, "the test left a broken history:\n" + "\n".join(problems)


async def _finish_turns_and_sessions() -> None:
    leftover = [turn.task for turn in turns.running_turns() if turn.task is not None]
    for task in leftover:
        task.cancel()
    if leftover:
        await asyncio.wait(leftover, timeout=5)
    await turns.finish_pending()  # turns cancelled before they began still store their reply as stopped
    await turns.stop_sweeper()  # a consumer started it; asleep, it would wake in a later test's loop
    await lease_keeper.stop()  # the same for the task that renews running turns' leases
    await tools.close_hub()
    await close_desk()
    for layer in list(channel_layers.backends.values()):
        await layer.close()  # the Redis layer leaves its groups and closes its connections
    channel_layers.backends.clear()
