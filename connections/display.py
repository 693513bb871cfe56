"""How providers look on pages: their icon on their brand colour, with a readable text colour, and
the label of an auth method.

Presentation only: built once from the provider registry, read by the connection pages and their
templates; nothing here decides what a provider can do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .providers import REGISTRY, Provider

__all__ = [
    "DISPLAY",
    "ProviderDisplay",
    "auth_method_label",
    "display_for",
    "provider_display",
    "provider_stylesheet",
]

_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_CSS_UNSAFE = re.compile(r"[^a-z0-9_-]")


@dataclass(frozen=True)
class ProviderDisplay:
    """How a provider looks on a card: its icon (inline SVG or a monogram) on its brand colour, with
    the text colour that reads best on it (brand colours range from Docker blue to AWS orange)."""

    code: str
    label: str
    icon: str
    icon_is_svg: bool
    color: str
    text_color: str

    @property
    def css_class(self) -> str:
        """The class that gives this provider's icon its colours (rules in `provider_stylesheet`).

        Colours come from a stylesheet, not a `style=""` attribute: the Content-Security-Policy allows no
        inline styles.
        """
        return "provider-brand-" + _CSS_UNSAFE.sub("-", self.code.lower())


def _relative_luminance(hex_color: str) -> float:
    value = hex_color.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    try:
        channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    except ValueError:
        return 0.0
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _text_color(background: str) -> str:
    """White or near-black, whichever contrasts more with `background` (WCAG contrast ratio)."""
    luminance = _relative_luminance(background)
    dark = 0.0116  # #111827
    on_white = 1.05 / (luminance + 0.05)
    on_dark = (luminance + 0.05) / (dark + 0.05)
    return "#ffffff" if on_white >= on_dark else "#111827"


def provider_display(spec: Provider) -> ProviderDisplay:
    icon = spec.icon or spec.label[:2].upper()
    color = spec.color or "#64748b"
    return ProviderDisplay(spec.code, spec.label, icon, icon.lstrip().startswith("<svg"), color, _text_color(color))


DISPLAY: dict[str, ProviderDisplay] = {code: provider_display(spec) for code, spec in REGISTRY.items()}


def display_for(code: str) -> ProviderDisplay:
    """A provider's display, or a neutral one for a row whose provider left the registry."""
    return DISPLAY.get(code) or ProviderDisplay(code, code, code[:3].upper(), False, "#64748b", "#ffffff")


def provider_stylesheet() -> str:
    """One CSS rule per registered provider setting its icon's --brand / --brand-text (served as a static-like
    stylesheet by `connections.views.provider_styles`). Colours that are not plain hex are left out, so a
    declaration can never inject CSS."""
    rules = [
        f".{d.css_class} {{ --brand: {d.color}; --brand-text: {d.text_color}; }}"
        for d in sorted(DISPLAY.values(), key=lambda d: d.code)
        if _HEX_COLOR.match(d.color)
    ]
    return "/* Provider brand colours, generated from the provider registry (connections/display.py). */\n" + (
        "\n".join(rules) + "\n"
    )


def auth_method_label(spec: Provider | None, code: str) -> str:
    if spec is not None:
        for method in spec.auth_methods:
            if method.code == code:
                return method.label
    return code
