"""The socket's Origin must match scheme, host and port of the site itself or a trusted origin."""

import pytest
from django.test import override_settings

from tests.support.socket import communicator, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def accepted_from(user, origin, host="localhost"):
    comm = communicator(await session_cookie(user), origin=origin)
    comm.scope["headers"] = [(b"host", host.encode())] + [h for h in comm.scope["headers"] if h[0] != b"host"]
    accepted, _ = await comm.connect(timeout=5)
    await comm.disconnect()
    return accepted


@pytest.mark.parametrize(
    ("origin", "host", "accepted"),
    [
        ("http://localhost", "localhost", True),
        ("http://localhost:80", "localhost", True),
        ("http://localhost:8000", "localhost:8000", True),
        ("http://localhost:8001", "localhost:8000", False),
        ("http://localhost:8000", "localhost", False),
        ("https://localhost", "localhost", False),
        ("http://evil.example", "localhost", False),
        ("http://localhost", "evil.example", False),
        ("null", "localhost", False),
        ("http://localhost/path", "localhost", False),
    ],
)
async def test_an_origin_is_accepted_only_with_the_sites_own_scheme_host_and_port(user, origin, host, accepted):
    assert await accepted_from(user, origin, host) is accepted


@override_settings(CSRF_TRUSTED_ORIGINS=["https://chat.example.com", "https://*.example.org:8443"])
@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("https://chat.example.com", True),
        ("https://chat.example.com:443", True),
        ("http://chat.example.com", False),
        ("https://chat.example.com:8443", False),
        ("https://a.example.org:8443", True),
        ("https://a.example.org", False),
        ("https://example.com", False),
    ],
)
async def test_a_trusted_origin_is_accepted_only_on_its_scheme_and_port(user, origin, accepted):
    assert await accepted_from(user, origin) is accepted
