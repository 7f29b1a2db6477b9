"""`django.setup()` (every manage.py command, every settings check) loads no MCP SDK: the hub loads at first use."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

PROBE = (
    "import json, sys, django; django.setup(); "
    "print(json.dumps(sorted(m for m in ('mcp', 'mcp_types', 'chat.tools.hub') if m in sys.modules)))"
)


def test_setting_up_django_loads_no_mcp_sdk():
    """The SDK was 0.85 of django.setup()'s 1.9 CPU-seconds: `manage.py migrate` or `ensure_demo_user` paid it."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", "DEBUG": "true", "SECRET_KEY": "probe"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
