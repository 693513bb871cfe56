"""Accounts API: me, organizations, environments, members, tokens, audit trail, token login.

Viewsets are thin: querysets come from `.restrict()`, permissions from the policy module, and every
write goes through a `do_*` service.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.actors import split_actor
from accounts.authn.api import authenticate_token_login, check_token_org
from accounts.authn.limits import ClientAddressRateThrottle
from accounts.filtersets import AuditEventFilterSet, EnvironmentFilterSet, InvitationFilterSet, MembershipFilterSet
from accounts.models import APIToken, AuditEvent, Environment, Invitation, Membership, Notification, Organization
from accounts.policy import Action, can, member_org_ids

from . import serializers as s
from .permissions import OrgScopedMixin, TwoFactorRequirementPermission


def _actor(request: Request) -> Any:
    return request.auth or request.user


class ApiRootView(APIView):
    """Where to start: the main collections and the documentation (no authentication needed)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def get(self, request: Request) -> Response:
        def url(path: str) -> str:
            return request.build_absolute_uri(path)

        return Response(
            {
                "me": url("/api/v1/me"),
                "organizations": url("/api/v1/orgs/"),
                "providers": url("/api/v1/providers/"),
                "auth_token": url("/api/v1/auth/token/"),
                "schema": url("/api/schema/"),
                "docs": url("/api/docs/"),
            }
        )


class AuthTokenView(APIView):
    """Exchange email, password (and, for accounts with two-factor, `otp`) and organization for a new
    API token (shown once).

    The same login protection as the sign-in page (accounts.authn.login): a held client address, a
    locked (email, address) pair or an account in its delay answers 429 with Retry-After; every failure
    is counted and audited. The endpoint is also rate-limited per client address (TOKEN_CREATE_RATE).
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientAddressRateThrottle]
    throttle_scope = "token_create"

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    @extend_schema(request=s.LoginTokenSerializer, responses={201: s.APITokenCreatedSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        data = s.LoginTokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate_token_login(
            request._request,
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            otp=data.validated_data.get("otp", ""),
        )
        org = services.authenticate_for_token(data.validated_data["org"], user)
        check_token_org(user, org)
        token, value = services.do_create_token(
            org,
            actor=user,
            name=data.validated_data["name"],
            role_cap=data.validated_data.get("role_cap") or "",
            expires_at=data.validated_data.get("expires_at"),
        )
        token.token = value
        return Response(s.APITokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)


class MeView(APIView):
    """The authenticated user, their memberships, and the token in use (if any)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.MeSerializer)
    def get(self, request: Request) -> Response:
        user, token = split_actor(_actor(request))
        memberships = Membership.objects.filter(user=user, org_id__in=member_org_ids(_actor(request)))
        payload = {
            "email": user.email,
            "full_name": user.full_name,
            "memberships": memberships.select_related("org").order_by("org__slug"),
            "token": token,
        }
        return Response(s.MeSerializer(payload).data)


class MeSlashView(MeView):
    """/api/v1/me/ as an alias of /api/v1/me (kept out of the schema to avoid a duplicate operation)."""

    schema = None


class OrganizationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Organizations you belong to. Any signed-in user may create one and becomes its admin."""

    permission_classes = [IsAuthenticated, TwoFactorRequirementPermission]  # login hardening
    serializer_class = s.OrganizationSerializer
    lookup_field = "slug"
    ordering_fields = ["slug", "name", "created_at"]

    def get_queryset(self) -> QuerySet:
        return Organization.objects.restrict(_actor(self.request), Action.VIEW)

    def perform_create(self, serializer: s.OrganizationSerializer) -> None:
        user, token = split_actor(_actor(self.request))
        if token is not None:
            raise PermissionDenied("API tokens belong to one organization and cannot create others.")
        serializer.instance = services.do_create_organization(
            slug=serializer.validated_data["slug"],
            name=serializer.validated_data["name"],
            acting_user=user,
        )

    @extend_schema(request=s.OrganizationUpdateSerializer, responses=s.OrganizationSerializer)
    def partial_update(self, request: Request, slug: str) -> Response:
        org = self.get_object()
        data = s.OrganizationUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        org = services.do_update_organization(org, actor=_actor(request), **data.validated_data)
        return Response(self.get_serializer(org).data)


class EnvironmentViewSet(OrgScopedMixin, viewsets.ModelViewSet):
    queryset = Environment.objects.none()
    serializer_class = s.EnvironmentSerializer
    filterset_class = EnvironmentFilterSet
    lookup_field = "slug"
    ordering_fields = ["slug", "name", "created_at"]
    default_write_action = Action.MANAGE_ENVIRONMENTS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_org_queryset(self) -> QuerySet:
        return self.restrict(Environment.objects.all())

    def perform_create(self, serializer: s.EnvironmentSerializer) -> None:
        serializer.instance = services.do_create_environment(
            self.get_org(), actor=self.actor, **serializer.validated_data
        )

    @extend_schema(request=s.EnvironmentUpdateSerializer, responses=s.EnvironmentSerializer)
    def partial_update(self, request: Request, org_slug: str, slug: str) -> Response:
        env = self.get_object()
        data = s.EnvironmentUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        env = services.do_update_environment(env, actor=self.actor, **data.validated_data)
        return Response(self.get_serializer(env).data)

    def perform_destroy(self, instance: Environment) -> None:
        services.do_delete_environment(instance, actor=self.actor)


class MemberViewSet(OrgScopedMixin, viewsets.ModelViewSet):
    """Members of the organization, looked up by email."""

    queryset = Membership.objects.none()
    serializer_class = s.MemberSerializer
    filterset_class = MembershipFilterSet
    lookup_field = "user__email"
    lookup_url_kwarg = "email"
    lookup_value_regex = "[^/]+"
    ordering_fields = ["user__email", "role", "created_at"]
    default_write_action = Action.MANAGE_MEMBERS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_org_queryset(self) -> QuerySet:
        return (
            self.restrict(Membership.objects.all())
            .select_related("user", "org")
        )

    def get_object(self) -> Membership:
        membership = self.get_queryset().filter(user__email__iexact=self.kwargs["email"]).first()
        if membership is None:
            raise Http404
        self.check_object_permissions(self.request, membership)
        return membership

    @extend_schema(
        request=s.InvitationCreateSerializer,
        responses={202: s.InvitationSerializer},
        description="Adding a member is an invitation (the same as POST .../invitations/): 202 with the "
        "invitation; they become a member when they accept the mailed link.",
    )
    def create(self, request: Request, org_slug: str) -> Response:
        return _invite(self, request)

    @extend_schema(request=s.MemberUpdateSerializer, responses=s.MemberSerializer)
    def partial_update(self, request: Request, org_slug: str, email: str) -> Response:
        membership = self.get_object()
        data = s.MemberUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.do_change_member_role(membership, actor=self.actor, role=data.validated_data["role"])
        return Response(s.MemberSerializer(membership).data)

    def perform_destroy(self, instance: Membership) -> None:
        services.do_remove_member(instance, actor=self.actor)


def _invite(view: Any, request: Request) -> Response:
    """The one answer to an invitation: 202 and the invitation, whether the address has an account."""
    data = s.InvitationCreateSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    invitation = services.do_invite_member(
        view.get_org(), actor=view.actor, **data.validated_data,
        domain=request.get_host(), use_https=request.is_secure(),
    )  # fmt: skip
    return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_202_ACCEPTED)


class InvitationViewSet(
    OrgScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Invitations of the organization (admins): send, list (`?status=pending|expired|accepted|revoked`),
    resend (a new link), and DELETE to revoke."""

    queryset = Invitation.objects.none()
    serializer_class = s.InvitationSerializer
    filterset_class = InvitationFilterSet
    ordering_fields = ["sent_at", "email", "expires_at"]
    action_policies = {"list": Action.MANAGE_MEMBERS, "retrieve": Action.MANAGE_MEMBERS}
    default_write_action = Action.MANAGE_MEMBERS

    def get_org_queryset(self) -> QuerySet:
        return Invitation.objects.filter(org=self.get_org()).select_related("invited_by", "org").order_by("-sent_at")

    @extend_schema(request=s.InvitationCreateSerializer, responses={202: s.InvitationSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        return _invite(self, request)

    @extend_schema(request=None, responses=s.InvitationSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, org_slug: str, pk: str) -> Response:
        invitation = services.do_resend_invitation(
            self.get_object(), actor=self.actor, domain=request.get_host(), use_https=request.is_secure()
        )
        return Response(self.get_serializer(invitation).data)

    @extend_schema(responses=s.InvitationSerializer)
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        invitation = services.do_revoke_invitation(self.get_object(), actor=self.actor)
        return Response(self.get_serializer(invitation).data)


class TokenViewSet(
    OrgScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """API tokens. Members see and revoke their own; admins see and revoke everyone's."""

    queryset = APIToken.objects.none()
    serializer_class = s.APITokenSerializer
    ordering_fields = ["created_at", "name", "last_used_at", "expires_at"]
    action_policies = {
        "create": Action.CREATE_OWN_TOKEN,
        "destroy": Action.CREATE_OWN_TOKEN,
    }

    def get_org_queryset(self) -> QuerySet:
        qs = APIToken.objects.filter(org=self.get_org()).select_related("user")
        if can(self.actor, Action.MANAGE_TOKENS, self.get_org()):
            return qs
        user, _ = split_actor(self.actor)
        return qs.filter(user=user)

    @extend_schema(request=s.APITokenCreateSerializer, responses={201: s.APITokenCreatedSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        data = s.APITokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, value = services.do_create_token(self.get_org(), actor=self.actor, **data.validated_data)
        token.token = value
        return Response(s.APITokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.APITokenSerializer})  # revoking answers the revoked token (schemathesis)
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        token = self.get_object()
        services.do_revoke_token(token, actor=self.actor)
        token.refresh_from_db()
        return Response(s.APITokenSerializer(token).data)


class AuditEventViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    """The organization's audit trail (admins). Filters: actor, action, target, environment, dates."""

    queryset = AuditEvent.objects.none()
    serializer_class = s.AuditEventSerializer
    filterset_class = AuditEventFilterSet
    ordering_fields = ["created_at", "seq", "action"]
    action_policies = {"list": Action.READ_AUDIT, "retrieve": Action.READ_AUDIT}

    def get_org_queryset(self) -> QuerySet:
        return self.restrict(AuditEvent.objects.all(), Action.READ_AUDIT).order_by("-seq")


class NotificationViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Alerts (e.g. a connection that started failing its health check). `?open=true` for undismissed."""

    queryset = Notification.objects.none()
    serializer_class = s.NotificationSerializer
    ordering_fields = ["created_at"]
    action_policies = {"dismiss": Action.TEST_CONNECTION}

    def get_org_queryset(self) -> QuerySet:
        qs = self.restrict(Notification.objects.all()).order_by("-created_at")
        if self.request.query_params.get("open") in ("1", "true", "yes"):
            qs = qs.filter(dismissed_at__isnull=True)
        return qs

    @extend_schema(request=None, responses=s.NotificationSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, org_slug: str, pk: str) -> Response:
        note = services.do_dismiss_notification(self.get_object(), actor=self.actor)
        return Response(self.get_serializer(note).data)
