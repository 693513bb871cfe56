"""How provider code reads the platform's settings without importing Django.

The provider package stays plain Python (a test holds it to that), so the connections app hands it a
getter when Django starts (`ConnectionsConfig.ready`). A provider asks only for settings it owns (its
CA bundle, the platform's own account); endpoints go through `contract.endpoint`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_getter: Callable[[str], Any] | None = None


def configure(getter: Callable[[str], Any]) -> None:
    """Install the settings getter (Django's `getattr(settings, name)`; tests may pass their own)."""
    global _getter
    _getter = getter


def setting(name: str) -> Any:
    """A declared setting's value; an undeclared name is an error, never a silent default."""
    if _getter is None:
        raise RuntimeError("connections.providers.config.configure() has not been called: Django is not set up.")
    return _getter(name)
