"""Passages of a document for full-text search: at most CHUNK_CHARS each, cut where a reader would pause."""

from __future__ import annotations

import re
from collections.abc import Iterator

CHUNK_CHARS = 1000
# Where to prefer a cut, best first: a blank line, a line end, a sentence end, a space.
_BREAKS = [re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"[.!?]\s"), re.compile(r"\s")]


def split_pages(pages: list[str], *, numbered: bool, limit: int = CHUNK_CHARS) -> Iterator[tuple[int | None, str]]:
    """(page, passage) for each passage in reading order; page is 1-based when `numbered`, else None."""
    for number, text in enumerate(pages, start=1):
        for passage in split_text(text, limit):
            yield (number if numbered else None), passage


def split_text(text: str, limit: int = CHUNK_CHARS) -> Iterator[str]:
    rest = text.strip()
    while rest:
        if len(rest) <= limit:
            yield rest
            return
        cut = _cut(rest, limit)
        head, rest = rest[:cut].strip(), rest[cut:].lstrip()
        if head:
            yield head


def _cut(text: str, limit: int) -> int:
    """The end of the first passage: the last good break in the second half of the window, else the limit."""
    window = text[: limit + 1]
    for pattern in _BREAKS:
        ends = [m.end() for m in pattern.finditer(window) if m.end() > limit // 2 and m.end() <= limit]
        if ends:
            return ends[-1]
    return limit
