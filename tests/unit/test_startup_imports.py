"""What starting a process costs: `django.setup()` loads no MCP SDK, and the site's start-up objects are frozen."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

from django.conf import settings

SETUP_PROBE = (
    "import json, sys, django; django.setup(); "
    "print(json.dumps(sorted(m for m in ('mcp', 'mcp_types', 'chat.tools.hub') if m in sys.modules)))"
)
ASGI_PROBE = "import gc, json, chatsite.asgi; print(json.dumps([gc.isenabled(), gc.get_freeze_count()]))"


def _probe(code: str) -> object:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", "DEBUG": "true", "SECRET_KEY": "probe"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_setting_up_django_loads_no_mcp_sdk():
    """The SDK was 0.85 of django.setup()'s 1.9 CPU-seconds: `manage.py migrate` or `ensure_demo_user` paid it."""
    assert _probe(SETUP_PROBE) == []


def test_the_site_freezes_its_start_up_objects_and_collects_garbage_after_it():
    """A server left with the collector off would keep every reference cycle it ever made."""
    enabled, frozen = _probe(ASGI_PROBE)
    assert enabled is True
    assert frozen > 50_000


def test_the_test_processes_collect_garbage_once_collection_is_over():
    assert gc.isenabled()
    assert gc.get_freeze_count() > 50_000
