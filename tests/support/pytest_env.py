"""A pytest plugin (loaded with -p, before pytest-django reads settings) giving test processes their environment."""

import gc
import os
import sys

import pytest

# No cyclic collection while the suite imports and collects (the site, Hypothesis, Schemathesis, ...: full
# passes over a growing heap), then everything made so far is frozen, so the tests' own collections skip
# it. Measured on `pytest tests -n 2`, with the same freeze in chatsite/asgi.py: 79-84 s and 102-111
# CPU-seconds against 89-100 s and 118-135 without, alternated (docs/testing.md).
gc.disable()

# Test processes run with DEBUG off (as production does) and these harmless test-only values.
# DEBUG explicitly: a local .env that `make run` wrote (DEBUG=true) must not change what the suites test.
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("DEMO_TOKEN_DELAY_SECONDS", "0")
# Two test runs sharing one Redis (two developers, or a run beside CI) would otherwise share group
# names like "conversation.1" and see each other's frames.
os.environ.setdefault("CHANNELS_PREFIX", f"chatsite-test-{os.getpid()}")

# pytest rewrites the asserts of every test module and of every plugin's whole package (Hypothesis,
# Schemathesis, ...: 435 modules here) and keeps the result in __pycache__, unless bytecode writing is off
# (PYTHONDONTWRITEBYTECODE=1, which some machines set): then every pytest process, each xdist worker and
# every Python a test starts parses them all again, about 5 s a process on 2 cores. The caches are git-ignored.
# This plugin is imported before the plugins that setuptools entry points load, so they are cached too.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# Recordings and spoken replies of a test run go to a directory of its own, removed at the end; a daphne
# started by the e2e suite inherits it, so a test can look at the files the server stored.
if "MEDIA_ROOT" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="chatsite-test-media-")
    atexit.register(shutil.rmtree, os.environ["MEDIA_ROOT"], ignore_errors=True)

# Under pytest-xdist each worker is a process of its own with its own test database, so conversation
# ids repeat across workers: give each worker its own group names and its own media directory.
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    if not os.environ["CHANNELS_PREFIX"].endswith(f"-{worker}"):
        os.environ["CHANNELS_PREFIX"] = f"{os.environ['CHANNELS_PREFIX']}-{worker}"
    if os.path.basename(os.environ["MEDIA_ROOT"]) != worker:
        os.environ["MEDIA_ROOT"] = os.path.join(os.environ["MEDIA_ROOT"], worker)
        os.makedirs(os.environ["MEDIA_ROOT"], exist_ok=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: object) -> None:
    """Every process runs this after collecting, xdist's controller too (it collects nothing)."""
    gc.freeze()
    gc.enable()


def pytest_sessionstart(session: object) -> None:
    from tests.support.flush import patch_test_flush

    patch_test_flush()
