"""API of authentication: the token login's checks (shared with the sign-in page through
`accounts.authn.login`) and an organization's security settings (`/api/v1/orgs/<org>/security/`)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import TWO_FACTOR_REQUIRED, OrgScopedMixin
from accounts.choices import RoleChoices
from accounts.models import Membership, Organization
from accounts.policy import Action

from . import limits, login, services, twofactor

OTP_REQUIRED = "This account uses two-factor authentication: send the current code from your app as `otp`."
OTP_INVALID = "Invalid one-time code."


def _throttled(refusal: limits.Refusal) -> Throttled:
    exc = Throttled(wait=refusal.retry_after)
    exc.detail = refusal.message  # without DRF's "Expected available in ..." suffix: Retry-After says it
    return exc


def authenticate_token_login(request: HttpRequest, *, email: str, password: str, otp: str) -> Any:
    """The user behind a token login, or a DRF error (401, or 429 with Retry-After when held).

    The same steps as the sign-in page (see `accounts.authn.login`): limits first, then the password,
    then, for a user who has enrolled, the `otp` code (or a recovery code).
    """
    email = limits.normalize_email(email)
    if refusal := limits.login_refusal(request, email):
        raise _throttled(refusal)
    user = authenticate(request, username=email, password=password)
    if user is None:
        if refusal := login.failed(request, email, reason=login.PASSWORD, channel=login.API):
            raise _throttled(refusal)
        raise AuthenticationFailed("Invalid email or password.")
    if twofactor.has_two_factor(user):
        if not (otp or "").strip():
            raise AuthenticationFailed(OTP_REQUIRED, code="otp_required")
        device = twofactor.verify_code(user, otp)
        if device is None:
            if refusal := login.failed(request, email, reason=login.ONE_TIME_CODE, channel=login.API):
                raise _throttled(refusal)
            raise AuthenticationFailed(OTP_INVALID, code="otp_invalid")
        login.second_factor_used(request, user, device, channel=login.API)
    login.succeeded(request, email)
    return user


def check_token_org(user: Any, org: Organization) -> None:
    """An admin of an organization that requires two-factor gets no token there before enrolling."""
    if twofactor.api_requirement_unmet(user, None, org):
        raise PermissionDenied(TWO_FACTOR_REQUIRED, code="two_factor_required")


# --- /api/v1/orgs/<org>/security/ -----------------------------------------------------------------


class OrgSecuritySerializer(serializers.Serializer):
    require_admin_2fa = serializers.BooleanField(
        help_text="Admins must use two-factor authentication to act in this organization."
    )
    admins_without_two_factor = serializers.ListField(
        child=serializers.EmailField(), read_only=True, help_text="Admins who have not turned it on yet."
    )


class OrgSecurityView(OrgScopedMixin, APIView):
    """An organization's security settings (admins)."""

    def required_action(self) -> Action:
        return Action.MANAGE_SECURITY

    def _payload(self, org: Organization) -> dict[str, Any]:
        admins = Membership.objects.restrict(self.actor, Action.VIEW).filter(org=org, role=RoleChoices.ADMIN)
        enrolled = TOTPDevice.objects.filter(confirmed=True).values("user_id")
        missing = admins.exclude(user_id__in=enrolled).order_by("user__email").values_list("user__email", flat=True)
        return {"require_admin_2fa": org.require_admin_2fa, "admins_without_two_factor": list(missing)}

    @extend_schema(responses=OrgSecuritySerializer)
    def get(self, request: Request, org_slug: str) -> Response:
        return Response(OrgSecuritySerializer(self._payload(self.get_org())).data)

    @extend_schema(request=OrgSecuritySerializer, responses=OrgSecuritySerializer)
    def patch(self, request: Request, org_slug: str) -> Response:
        data = OrgSecuritySerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        org = self.get_org()
        if "require_admin_2fa" in data.validated_data:
            org = services.do_set_admin_two_factor(
                org, actor=self.actor, require_admin_2fa=data.validated_data["require_admin_2fa"]
            )
        return Response(OrgSecuritySerializer(self._payload(org)).data)
