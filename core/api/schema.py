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

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

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
    404: "No such object in an organization you belong to (or no such page).",
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
