"""A response body delivered in pieces cut where a test says, as a network would cut it.

`responses` serves a `BufferedReader` body as is, and the LLM transport reads with `read1`, which
returns at most one raw read: so each piece reaches the SSE parser as its own chunk, however the
cut falls (inside a UTF-8 character, a `data:` line, a JSON string, a code fence).
"""

from __future__ import annotations

import io
from collections.abc import Iterable


class _Pieces(io.RawIOBase):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = [piece for piece in pieces if piece]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._pieces:
            return 0
        piece = self._pieces[0]
        n = min(len(buffer), len(piece))
        buffer[:n] = piece[:n]
        if n == len(piece):
            self._pieces.pop(0)
        else:
            self._pieces[0] = piece[n:]
        return n


def cut(body: bytes, at: Iterable[int]) -> list[bytes]:
    """body split at these byte offsets (any order; out-of-range and repeated offsets ignored)."""
    points = sorted({point for point in at if 0 < point < len(body)})
    edges = [0, *points, len(body)]
    return [body[start:end] for start, end in zip(edges, edges[1:], strict=False)]


def body_in_pieces(body: bytes, at: Iterable[int]) -> io.BufferedReader:
    """A body for `responses` that the client reads in exactly these pieces."""
    return io.BufferedReader(_Pieces(cut(body, at)))
