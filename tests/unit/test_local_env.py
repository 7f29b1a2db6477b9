"""`make run` writes a local .env so manage.py works in a checkout; without one, production's checks stay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests.support.checkout import settings_checkout

REPO = Path(settings.BASE_DIR)


def _manage_check(checkout: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    env["DJANGO_SETTINGS_MODULE"] = "chatsite.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=checkout, env=env, capture_output=True, text=True, timeout=120
    )


def test_without_a_dotenv_or_variables_debug_is_off_and_secret_key_is_required(tmp_path: Path):
    done = _manage_check(settings_checkout(tmp_path))
    assert done.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in done.stderr


def test_the_dotenv_make_writes_makes_manage_py_check_pass_and_is_not_rewritten(tmp_path: Path):
    checkout = settings_checkout(tmp_path)
    make = ["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "-C", str(checkout), f"PYTHON={sys.executable}"]
    subprocess.run([*make, ".env"], check=True, capture_output=True, text=True, timeout=60)
    written = (checkout / ".env").read_text()
    assert "DEBUG=true" in written.splitlines()
    key = next(line.removeprefix("SECRET_KEY=") for line in written.splitlines() if line.startswith("SECRET_KEY="))
    assert len(key) >= 50
    assert (checkout / ".env").stat().st_mode & 0o077 == 0, "the secret key is readable only by its owner"

    done = _manage_check(checkout)
    assert done.returncode == 0, done.stderr
    subprocess.run([*make, ".env"], check=True, capture_output=True, text=True, timeout=60)
    assert (checkout / ".env").read_text() == written, "an existing .env is kept as it is"


def test_dotenv_is_git_ignored():
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


def test_make_run_starts_daphne_as_a_module_as_the_suites_do():
    """The `daphne` script makes a spawned calculator worker re-run it, importing Twisted before the first
    calculation (docs/operations.md, "Starting daphne"; the worker itself is checked in test_shutdown.py)."""
    dry = subprocess.run(["make", "--no-print-directory", "-n", "run"], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True)
    started = [line for line in dry.stdout.splitlines() if "daphne" in line and "chatsite.asgi:application" in line]
    assert len(started) == 1 and " -m daphne " in started[0], dry.stdout
