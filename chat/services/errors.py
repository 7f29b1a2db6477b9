"""Invalid: the error a write raises when a request names something it may not use."""

from __future__ import annotations


class Invalid(ValueError):
    """A request names something it may not use (another person's persona, an unknown provider): `field` says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
