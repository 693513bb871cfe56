"""Separation advice: one connection should not reach both development-like and production-like
environments (seed 000's best practices), because then a mistake in a test run can touch production.

Environments have no "tier" attribute, so they are classified by their slug and name: words such as
`dev`, `test`, `qa`, `staging`, `sandbox` mean development-like, `prod`, `production`, `live` mean
production-like (matched as whole words, so `product-catalog` is neither). An environment that fits
neither is left out of the warning rather than guessed.

Nothing here imports models: the connection model calls `separation_warning` with its environments.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["DEVELOPMENT", "PRODUCTION", "environment_tier", "separation_warning"]

DEVELOPMENT = "development"
PRODUCTION = "production"

_WORDS = {
    PRODUCTION: ("prod", "production", "prd", "live"),
    DEVELOPMENT: (
        "dev", "develop", "development", "test", "testing", "qa", "uat", "stage", "staging", "stg",
        "sandbox", "preview", "nonprod", "non-prod", "preprod", "pre-prod", "local", "demo",
    ),
}
# Longest words first, so "nonprod" / "pre-prod" are development-like before "prod" is tried.
_PATTERNS = [
    (tier, re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])"))
    for tier, word in sorted(
        ((tier, word) for tier, words in _WORDS.items() for word in words), key=lambda item: -len(item[1])
    )
]


# Slugs named in the warning, per tier; a connection authorized for hundreds of environments gets "and N more".
NAMED_IN_WARNING = 10


@functools.lru_cache(maxsize=4096)
def environment_tier(slug: str, name: str = "") -> str | None:
    """"development", "production" or None, from whole words of the slug (then the name).

    Cached: a pure function of two short strings, asked for every authorization of a connection (its
    detail page classifies all of them, however many), against some forty patterns each time."""
    for text in (slug, name):
        text = (text or "").lower().replace("_", "-")
        for tier, pattern in _PATTERNS:
            if pattern.search(text):
                return tier
    return None


def separation_warning(environments: Iterable[Any]) -> str:
    """The warning for a connection authorized for these environments (objects with slug and name), or ""."""
    tiers: dict[str, list[str]] = {DEVELOPMENT: [], PRODUCTION: []}
    for environment in environments:
        tier = environment_tier(environment.slug, environment.name)
        if tier is not None:
            tiers[tier].append(environment.slug)
    if not (tiers[DEVELOPMENT] and tiers[PRODUCTION]):
        return ""
    dev, prod = _named(tiers[DEVELOPMENT]), _named(tiers[PRODUCTION])
    return (
        f"Authorized for development-like ({dev}) and production-like ({prod}) environments: "
        "use separate connections (and accounts or subscriptions) so a test run cannot reach production."
    )


def _named(slugs: list[str]) -> str:
    """"a, b, c", or the first NAMED_IN_WARNING of them and how many more."""
    slugs = sorted(slugs)
    if len(slugs) <= NAMED_IN_WARNING:
        return ", ".join(slugs)
    return f"{', '.join(slugs[:NAMED_IN_WARNING])} and {len(slugs) - NAMED_IN_WARNING} more"
