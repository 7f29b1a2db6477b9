"""A socket lives no longer than its session: logout anywhere closes it at once, expiry within a bound."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from chat.models import Message
from chat.session_watch import group_name
from tests.support.login import login
from tests.support.socket import communicator, receive_frame, send, send_message

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in_client(user) -> tuple[Client, str]:
    session = await database_sync_to_async(login)(user)
    return session.client, session.header


async def open_socket(cookie):
    comm = communicator(cookie)
    accepted, code = await comm.connect(timeout=5)
    assert accepted, f"refused with {code}"
    return comm


async def expect_closed_as_logged_out(comm):
    output = await comm.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4401}, f"expected a 4401 close, got {output}"


async def test_logging_out_over_http_closes_the_open_socket_and_its_next_frame_is_ignored(user):
    client, cookie = await logged_in_client(user)
    comm = await open_socket(cookie)
    try:
        await send(comm, "ping")
        await receive_frame(comm, "pong")

        response = await database_sync_to_async(client.post)("/accounts/logout/")
        assert response.status_code == 302
        await expect_closed_as_logged_out(comm)

        await send_message(comm, "am I still here?")
        assert await comm.receive_nothing(timeout=0.3)
    finally:
        await comm.disconnect()
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_logging_out_closes_every_socket_of_that_session_but_not_another_sessions(user):
    client, cookie = await logged_in_client(user)
    _, other_cookie = await logged_in_client(user)
    first, second, elsewhere = await open_socket(cookie), await open_socket(cookie), await open_socket(other_cookie)
    try:
        await database_sync_to_async(client.post)("/accounts/logout/")
        await expect_closed_as_logged_out(first)
        await expect_closed_as_logged_out(second)
        await send(elsewhere, "ping")
        await receive_frame(elsewhere, "pong")
    finally:
        for comm in (first, second, elsewhere):
            await comm.disconnect()


@override_settings(CHAT_SESSION_RECHECK_SECONDS=0.1)
async def test_a_session_that_expires_closes_its_socket_at_the_next_recheck(user):
    _, cookie = await logged_in_client(user)
    comm = await open_socket(cookie)
    try:
        await database_sync_to_async(Session.objects.all().delete)()
        await expect_closed_as_logged_out(comm)
    finally:
        await comm.disconnect()


@override_settings(CHAT_SESSION_RECHECK_SECONDS=0.1)
async def test_a_password_change_elsewhere_closes_the_socket_at_the_next_recheck(user):
    _, cookie = await logged_in_client(user)
    comm = await open_socket(cookie)
    try:
        await send(comm, "ping")
        await receive_frame(comm, "pong")
        user.set_password("a-brand-new-password")
        await database_sync_to_async(user.save)()
        await expect_closed_as_logged_out(comm)
    finally:
        await comm.disconnect()


def test_the_group_name_does_not_reveal_the_session_key():
    key = "k" * 32
    name = group_name(key)
    assert key not in name and name == group_name(key) and name != group_name("j" * 32)
    assert len(name) < 100
