"""The API schema's view of errors: every operation documents the error answers it can give.

`core.api.errors` gives every error one shape; this module describes that shape to drf-spectacular
(`ApiErrorSerializer`, the `ApiError` component) and adds it, under the status codes any operation can
answer with, to every operation of the schema: 400 (invalid input or query, a body that is not JSON),
401 (no valid credentials), 403 (the role, plan or two-factor requirement refuses), 404 (no such object in an
organization of yours, or a page past the end); writes also 503 (the audit trail is unavailable: nothing
changed); throttled views 429. A view's own `@extend_schema(responses=...)` for a code wins. Without this,
clients (and schemathesis' status-code check in CI) met answers the schema said could not happen.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .tags import RESOURCES, SUMMARIES

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField(help_text="Machine-readable: invalid, permission_denied, plan_limit, not_found...")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages, keyed like the request body (`name`, `config.region`, `secrets.token`).",
    )


class ApiErrorSerializer(serializers.Serializer):
    """Documentation only: `core.api.errors` builds the body."""

    error = ApiErrorDetailSerializer()


COMMON_ERRORS: dict[int, str] = {
    400: "Invalid input or query; `error.fields` says where.",
    401: "No valid credentials (missing, unknown, expired or revoked token).",
    403: "Your role, the plan or a two-factor requirement does not allow it.",
    404: "No such object in an organization you belong to (or, for cost sums, no such page).",
}
WRITE_ERRORS: dict[int, str] = {503: "A service the change needs (the audit trail) is unavailable; nothing changed."}
THROTTLED: dict[int, str] = {429: "Too many requests; `Retry-After` says when to try again."}


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ApiErrorSerializer, description=description)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema, with the API's error answers documented on every operation."""

    def error_codes(self) -> dict[int, str]:
        codes = dict(COMMON_ERRORS)
        if self.method not in SAFE_METHODS:
            codes.update(WRITE_ERRORS)
        if getattr(self.view, "throttle_classes", None):
            codes.update(THROTTLED)
        return codes

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code, description in self.error_codes().items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    error_response(description), str(code), direction=direction
                )
        return responses


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
    """The error answers (above), plus operations tagged by resource with generated summaries: drf-spectacular
    would tag every operation `v1` (the first path segment after the common prefix). The tag is the resource
    the path names (after `/api/v1/` or `/api/v1/orgs/{org}/`, or a sub-resource such as a connection's
    roles); the summary says what the operation does to it. `@extend_schema(summary=..., tags=...)` wins."""

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
