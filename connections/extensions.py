"""Hooks through which apps above `connections` add to its pages and its connection test.

`connections` never imports those apps (the layers contract); they register here from their
AppConfig.ready(), the way the VPN app opens private networks in `networks.py`:

* `register_card_badges(func)`: `func(connections)` -> {connection pk: [Badge, ...]} for one page of
  connection cards, in one query per source (the list's query count stays constant);
* `register_detail_panel(func)`: `func(connection, actor)` -> a `Panel` (a template and its context)
  shown on the connection's page, or None;
* `register_check_note(func)`: `func(connection)` -> a sentence added to the connection's test result
  (e.g. the VPN's tunnel status for an on-prem connection), or None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .models import Connection

__all__ = [
    "Badge",
    "Panel",
    "badges_for",
    "check_notes",
    "detail_panels",
    "register_card_badges",
    "register_check_note",
    "register_detail_panel",
]


@dataclass(frozen=True)
class Badge:
    """A status badge on a connection card: `css` picks the colour (`badge-<css>`), `url` links it."""

    label: str
    css: str = ""
    title: str = ""
    url: str = ""


@dataclass(frozen=True)
class Panel:
    template: str
    context: dict[str, Any] = field(default_factory=dict)


CardBadgeSource = Callable[[list[Connection]], dict[Any, list[Badge]]]
PanelSource = Callable[[Connection, Any], Panel | None]
CheckNoteSource = Callable[[Connection], str | None]

CARD_BADGE_SOURCES: list[CardBadgeSource] = []
DETAIL_PANEL_SOURCES: list[PanelSource] = []
CHECK_NOTE_SOURCES: list[CheckNoteSource] = []


def register_card_badges(source: CardBadgeSource) -> CardBadgeSource:
    CARD_BADGE_SOURCES.append(source)
    return source


def register_detail_panel(source: PanelSource) -> PanelSource:
    DETAIL_PANEL_SOURCES.append(source)
    return source


def register_check_note(source: CheckNoteSource) -> CheckNoteSource:
    CHECK_NOTE_SOURCES.append(source)
    return source


def badges_for(connections: Iterable[Connection]) -> None:
    """Set `connection.extra_badges` on each card of the page."""
    cards = list(connections)
    found: dict[Any, list[Badge]] = {}
    for source in CARD_BADGE_SOURCES:
        for pk, badges in (source(cards) or {}).items():
            found.setdefault(pk, []).extend(badges)
    for connection in cards:
        connection.extra_badges = found.get(connection.pk, [])


def detail_panels(connection: Connection, actor: Any) -> list[Panel]:
    return [panel for source in DETAIL_PANEL_SOURCES if (panel := source(connection, actor)) is not None]


def check_notes(connection: Connection) -> list[str]:
    return [note for source in CHECK_NOTE_SOURCES if (note := source(connection))]
