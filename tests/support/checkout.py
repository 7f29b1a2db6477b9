"""A copy of the project's settings and manage.py in a directory of its own, for loading settings in a fresh
process exactly as production would: no .env beside them (the settings read one there), no test settings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def settings_checkout(directory: Path) -> Path:
    """`directory` holding manage.py, chatsite/ (copied) and chat/ (a link): settings find no .env there."""
    shutil.copy(REPO / "manage.py", directory / "manage.py")
    shutil.copytree(REPO / "chatsite", directory / "chatsite", ignore=shutil.ignore_patterns("__pycache__"))
    (directory / "chat").symlink_to(REPO / "chat")
    return directory


def bare_environment(**extra: str) -> dict[str, str]:
    """This process's environment without the site's variables (only what a program needs to run)."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"}
    return {**{k: v for k, v in os.environ.items() if k in keep}, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **extra}
