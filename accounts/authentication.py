"""DRF authentication with API tokens: `Authorization: Bearer <token>` (or `Token <token>`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import APIToken, Membership, hash_token
from .policy import remember_role

# last_used_at is written at most this often per token, so a busy CI token does not write on every call.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class APITokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[Any, APIToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        # The user's membership role in the token's organization comes with the token (a subquery, no second
        # query): org-scoped views need it on every request (OrgScopedMixin.get_org).
        role = Membership.objects.filter(user=OuterRef("user_id"), org=OuterRef("org_id")).order_by().values("role")
        token = (
            APIToken.objects.select_related("user", "org")
            .annotate(member_role=Subquery(role[:1]))
            .filter(key_hash=hash_token(header[1]))
            .first()
        )
        if token is None or token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed("Token has expired.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is inactive.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            APIToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        remember_role(token.user, token.org_id, token.member_role)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class APITokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.APITokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "API token from POST /api/v1/auth/token/"}
