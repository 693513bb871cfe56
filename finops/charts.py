"""Server-rendered SVG charts: geometry computed here, drawn by the template with plain SVG attributes.

No JavaScript, no CDN and no inline style (the Content-Security-Policy stays strict); the same figures
are in the tables next to each chart, so the page reads the same without images or scripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

WIDTH, HEIGHT, PAD = 600, 160, 4


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: Decimal


def daily_bars(rows: list[dict[str, Any]], currency: str) -> list[Bar]:
    """Vertical bars, one per day, of the given currency's billed cost."""
    points = [(r["key"], r["billed_cost"]) for r in rows if r["currency"] == currency]
    if not points:
        return []
    top = max(value for _, value in points) or Decimal(1)
    slot = WIDTH / len(points)
    bars = []
    for i, (label, value) in enumerate(points):
        height = float(value / top) * (HEIGHT - PAD) if top else 0.0
        bars.append(Bar(round(i * slot + 1, 2), round(HEIGHT - height, 2), round(max(slot - 2, 1), 2),
                        round(height, 2), label, value))  # fmt: skip
    return bars


def share_bars(rows: list[dict[str, Any]], limit: int = 8) -> list[Bar]:
    """Horizontal bars (percent of the largest) for a grouped table, in its order."""
    rows = rows[:limit]
    if not rows:
        return []
    top = max(r["billed_cost"] for r in rows) or Decimal(1)
    return [
        Bar(0, i * 24, round(float(r["billed_cost"] / top) * 100, 2), 18, r["key"] or "—", r["billed_cost"])
        for i, r in enumerate(rows)
    ]
