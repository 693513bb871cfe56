"""What every bench prints the same way: min / median / max of repetitions, and its README table row.

A bench's last lines starting with ``README| `` are its rows of the README's benchmark table;
`bench/report.py` runs the benches and writes those rows between the table markers, so the README
states what the benches printed, as ranges, and not one run's figure typed by hand.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

ROW_PREFIX = "README| "


def spread(values: Sequence[float], fmt: str = "{:.2f}", unit: str = "") -> str:
    """`min / median / max` of several repetitions."""
    return " / ".join(fmt.format(v) + unit for v in (min(values), statistics.median(values), max(values)))


def verdict(values: Sequence[float], *, at_most: float | None = None, at_least: float | None = None) -> str:
    """Whether the median meets the target, and whether every repetition did (the range is what a reader gets)."""
    median = statistics.median(values)
    if at_most is not None:
        ok, every, target = median <= at_most, max(values) <= at_most, f"target <= {at_most:g}"
    elif at_least is not None:
        ok, every, target = median >= at_least, min(values) >= at_least, f"target >= {at_least:g}"
    else:
        raise ValueError("give at_most or at_least")
    if every:
        return f"{target}: met in every repetition"
    return f"{target}: median {'met' if ok else 'NOT met'}, not in every repetition"


def load_note() -> str:
    """The machine's load while the bench ran: figures from a loaded 2-CPU machine say so."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} CPUs"


def readme_row(bench: str, what: str, figure: str) -> None:
    """Print one row of the README's benchmark table (collected by bench/report.py)."""
    print(f"{ROW_PREFIX}| `{bench}`: {what} | {figure} |")
