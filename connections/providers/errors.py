"""The errors of the provider framework, in a module of their own so that `base` and `validators`
(which both raise them) import them without importing each other."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["FieldError", "MaterializeError", "ProviderValidationError"]


class FieldError(Exception):
    """A single field value is invalid; `message` is shown to the user next to that field.

    Validators raise it with a message that never contains a secret value: messages end up in API
    responses, form errors and logs.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProviderValidationError(Exception):
    """All problems found while cleaning one connection payload, keyed like a DRF/Django form error.

    Keys are field names, plus ``"auth_method"`` for an unusable auth method and
    ``"non_field_errors"`` for cross-field problems. Collecting everything at once lets a form show
    every mistake in one round trip.
    """

    def __init__(self, errors: Mapping[str, str | Iterable[str]]) -> None:
        normalized: dict[str, list[str]] = {}
        for key, value in errors.items():
            messages = [value] if isinstance(value, str) else list(value)
            if messages:
                normalized.setdefault(str(key), []).extend(messages)
        self.errors = normalized
        super().__init__(str(self))

    def __str__(self) -> str:
        return "; ".join(f"{key}: {' '.join(messages)}" for key, messages in self.errors.items())


class MaterializeError(ValueError):
    """The runtime called `materialize` with inputs it cannot work with (an integration bug, not user input)."""
