"""HTTP hardening: Content-Security-Policy, no-store on private pages, login throttling, HTTPS-only settings."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.parametrize("path", ["/accounts/login/", "/"])
def test_pages_carry_a_content_security_policy_without_inline_scripts(client, user, path):
    if path == "/":
        client.force_login(user)
    policy = directives(client.get(path))
    assert policy["script-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert not any("unsafe" in value for values in policy.values() for value in values)


def test_the_chat_page_is_never_stored_by_a_cache(client, user):
    client.force_login(user)
    assert "no-store" in client.get("/").headers["Cache-Control"]


def log_in(client, password, address="10.0.0.1"):
    return client.post(
        "/accounts/login/", {"username": "alice", "password": password}, REMOTE_ADDR=address
    )


def test_wrong_passwords_lock_out_that_account_from_that_address_with_a_clear_message(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert log_in(client, "wrong").status_code == 200  # the form again, with its error
    locked = log_in(client, "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.text and "Try again in 15 minutes" in locked.text

    assert log_in(client, "alice-password").status_code == 429, "the right password must not get in while locked"
    assert log_in(client, "alice-password", address="10.0.0.2").status_code == 302, "another address is not locked"


def test_a_successful_login_resets_the_failure_count(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    log_in(client, "wrong")
    log_in(client, "wrong")
    assert log_in(client, "alice-password").status_code == 302
    client.logout()
    log_in(client, "wrong")
    assert log_in(client, "wrong").status_code == 200


def settings_with(**env: str) -> dict:
    """Load chatsite.settings in a fresh interpreter with this environment; the security values it computed."""
    environment = {k: v for k, v in os.environ.items() if k not in ("HTTPS", "SECURE_HSTS_SECONDS", "DEBUG")}
    environment.update(env, DJANGO_SETTINGS_MODULE="chatsite.settings")
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
        "'hsts': s.SECURE_HSTS_SECONDS, 'session_secure': s.SESSION_COOKIE_SECURE, 'csrf_secure': s.CSRF_COOKIE_SECURE}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_https_turns_on_hsts_and_secure_cookies_and_plain_http_does_not():
    with ThreadPoolExecutor(2) as pool:  # two interpreters at once: each spends its second importing the site
        secure, plain = pool.submit(settings_with, HTTPS="true"), pool.submit(settings_with)
        assert secure.result() == {"hsts": 31536000, "session_secure": True, "csrf_secure": True}
        assert plain.result() == {"hsts": 0, "session_secure": False, "csrf_secure": False}


def test_hsts_is_sent_on_secure_requests_when_configured(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/accounts/login/", secure=True)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
