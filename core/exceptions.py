"""Exceptions that mean something to every layer, so `core` can map them without knowing who raised them."""

from __future__ import annotations


class ServiceUnavailable(Exception):
    """A dependency the change needs is down; the change did not happen. The API answers 503 with `code`."""

    code = "unavailable"
    default_message = "The service is temporarily unavailable."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
