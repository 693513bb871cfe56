"""OpenAPI operations grouped by resource, each with a one-line summary.

drf-spectacular tags every operation with the first path segment after the common prefix, which for
this API is always `v1`: one group of fifty operations. Here the tag is the resource the path names
(the segment after `/api/v1/` or `/api/v1/orgs/{org}/`, or a sub-resource such as a connection's roles),
and the summary says what the operation does to it ("List connections", "Test a connection"). An
`@extend_schema(summary=..., tags=...)` on a view still wins.
"""

from __future__ import annotations

import re

from drf_spectacular.openapi import AutoSchema

from .tags import RESOURCES, SUMMARIES

_PARAM = re.compile(r"^\{.*\}$")
_PREFIX = re.compile(r"^/api/v\d+/")
_VERBS = {
    "list": "List {plural}",
    "create": "Create {a} {singular}",
    "retrieve": "Get {a} {singular}",
    "update": "Replace {a} {singular}",
    "partial_update": "Update {a} {singular}",
    "destroy": "Delete {a} {singular}",
}
_METHOD_ACTIONS = {"get": "retrieve", "post": "create", "put": "update", "patch": "partial_update", "delete": "destroy"}


def _resource_segments(path: str) -> list[str]:
    """The path's literal segments after `/api/vN/` (and after `orgs/{org}/` when it is a sub-resource)."""
    segments = [s for s in _PREFIX.sub("", path).split("/") if s]
    if len(segments) > 2 and segments[0] == "orgs" and _PARAM.match(segments[1]):
        segments = segments[2:]
    return [s for s in segments if not _PARAM.match(s)]


def _describe(segment: str) -> tuple[str, str, str]:
    if segment in RESOURCES:
        return RESOURCES[segment]
    words = segment.replace("-", " ").replace("_", " ")
    singular = words[:-1] if words.endswith("s") and not words.endswith("ss") else words
    return segment, singular, words


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


class PlatformAutoSchema(AutoSchema):
    """Tags by resource and generated summaries (see the module docstring)."""

    def _operation(self) -> tuple[str, str]:
        """(resource segment, action) for this operation: the last literal path segment that names a
        resource, and the viewset action (or, for plain views, the action the HTTP method implies)."""
        literals = _resource_segments(self.path)
        action = getattr(self.view, "action", None) or _METHOD_ACTIONS.get(self.method.lower(), "retrieve")
        if action == "list" and not self._is_list_view():
            action = "retrieve"
        for segment in reversed(literals):
            if segment in RESOURCES or (segment, action) in SUMMARIES:
                return segment, action
        return (literals[-1] if literals else "api"), action

    def get_tags(self) -> list[str]:
        return [_describe(self._operation()[0])[0]]

    def get_summary(self) -> str | None:
        segment, action = self._operation()
        if (segment, action) in SUMMARIES:
            return SUMMARIES[segment, action]
        _, singular, plural = _describe(segment)
        template = _VERBS.get(action)
        if template is None:  # a custom action without a written summary: say its name and its object
            return f"{action.replace('_', ' ').capitalize()} ({singular})"
        return template.format(plural=plural, singular=singular, a=_article(singular))
