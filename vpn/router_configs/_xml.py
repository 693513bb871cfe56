"""Shared XML building for the pfSense and OPNsense `<ipsec>` fragments.

ElementTree serializes, so every value (descriptions and keys included) is escaped by the XML library,
never by string concatenation.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from vpn.router_configs.base import comment_text


def sub(parent: ET.Element, tag: str, text: str | int | None = None, **children: str | int) -> ET.Element:
    """A child element with optional text and simple text children (keyword names: `_` becomes `-`)."""
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    for name, value in children.items():
        ET.SubElement(element, name.replace("__", "-")).text = str(value)
    return element


def document(root: ET.Element, comments: list[str]) -> str:
    """An XML document: declaration, the comment lines (made safe: no `--`), then the indented root."""
    ET.indent(root, space="\t")
    body = ET.tostring(root, encoding="unicode")
    safe = "\n".join(comment_text(line).replace("-->", "- ->") for line in comments)
    return f'<?xml version="1.0"?>\n<!--\n{safe}\n-->\n{body}\n'
