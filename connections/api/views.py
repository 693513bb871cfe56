"""Connections API: the provider registry, connections by name, their authorizations, and selection.

Viewsets are thin: querysets start from `.restrict()`, permissions come from the policy module
(`OrgScopedMixin`), and every write goes through a `do_*` service, which checks the policy again
and writes the audit event. Responses never hold a secret: serializers have no field that reads one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import OrgScopedMixin
from accounts.models import Environment
from accounts.policy import Action
from core.api.errors import error_body
from core.api.filters import FilterBackend

from .. import services
from ..filtersets import ConnectionFilterSet
from ..models import Connection, ConnectionAuthorization
from ..providers import REGISTRY, UnknownProvider, get_provider
from ..runtime import SelectionError, select_connection
from ..trust import federation_setup_for, trust_policy_for
from . import serializers as s

ERRORS = {
    400: OpenApiResponse(s.ApiErrorSerializer, description="Invalid input; `error.fields` says where."),
    403: OpenApiResponse(s.ApiErrorSerializer, description="Your role (or the plan: `plan_limit`) does not allow it."),
    404: OpenApiResponse(s.ApiErrorSerializer, description="No such object in an organization you belong to."),
}


class NullsLastOrderingFilter(OrderingFilter):
    """`?ordering=` with never-used connections (null `last_used_at`) last in both directions, which
    SQLite and PostgreSQL would otherwise disagree on, and the name as tie-breaker so pages never overlap.

    The list's keyset pagination orders by the same terms (`get_ordering`, name included), NULLs last too,
    then by the primary key; its cursor holds the last row's values of all of them."""

    def get_ordering(self, request: Request, queryset: QuerySet, view: Any) -> list[str] | None:
        ordering = super().get_ordering(request, queryset, view)
        if ordering and "name" not in {term.lstrip("-") for term in ordering}:
            ordering = [*ordering, "name"]
        return ordering

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        terms = [term.lstrip("-") for term in ordering]
        expressions = [
            F(name).desc(nulls_last=True) if term.startswith("-") else F(name).asc(nulls_last=True)
            for term, name in zip(ordering, terms, strict=True)
        ]
        return queryset.order_by(*expressions)


class ProviderViewSet(viewsets.ViewSet):
    """The provider registry: fields, auth methods and plan of every provider, to build forms from.

    Not paginated: the registry is small and fixed per release, so clients get it in one request.
    """

    permission_classes = [IsAuthenticated]
    lookup_field = "code"
    lookup_value_regex = "[^/]+"

    @extend_schema(responses=s.ProviderSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response([provider.as_dict() for provider in REGISTRY.values()])

    @extend_schema(
        parameters=[OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH, description="Provider code.")],
        responses={200: s.ProviderSerializer, 404: ERRORS[404]},
    )
    def retrieve(self, request: Request, code: str) -> Response:
        try:
            return Response(get_provider(code).as_dict())
        except UnknownProvider as exc:
            raise NotFound(exc.message) from None


class ConnectionViewSet(
    OrgScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """An organization's connections, looked up by name. Reads: every member; writes: admins
    (or a per-object grant on that connection)."""

    queryset = Connection.objects.none()
    serializer_class = s.ConnectionSerializer
    filterset_class = ConnectionFilterSet
    filter_backends = [FilterBackend, NullsLastOrderingFilter]
    ordering_fields = ["name", "provider", "created_at", "last_used_at"]
    ordering = ["name"]
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    default_write_action = Action.MANAGE_CONNECTIONS
    # Writes on one connection: a django-guardian grant on it may allow them, so the object decides.
    action_policies = {"test": Action.TEST_CONNECTION}
    object_level_actions = (
        "test",
        "partial_update",
        "destroy",
        "rotate",
        "activate",
        "deactivate",
        "set_authorizations",
        "add_authorization",
        "revoke_authorization",
        "set_default",
    )

    def get_org_queryset(self) -> QuerySet:
        # The ciphertext is never serialized: don't even read it (nor the referenced row's). The environments
        # are read by the serializer, in one query per page (ConnectionSerializer.prepare_page).
        connections = self.restrict(Connection.objects.all()).defer("secrets_envelope")
        if self.action == "list":
            # Reads show only a few values of the related rows: columns, not four model instances per row.
            return s.with_response_columns(connections)
        if self.action == "retrieve":  # the object permission check reads the organization
            return s.with_response_columns(connections).select_related("org")
        return connections.select_related("org", "cloud_connection", "created_by", "updated_by").defer(
            "cloud_connection__secrets_envelope"
        )

    def _represent(self, connection: Connection, status_code: int = status.HTTP_200_OK) -> Response:
        """The response for a connection a service just changed, re-read with what the serializer needs."""
        fresh = self.get_queryset().get(pk=connection.pk)
        return Response(self.get_serializer(fresh).data, status=status_code)

    @extend_schema(request=s.ConnectionSerializer, responses={201: s.ConnectionSerializer, **ERRORS})
    def create(self, request: Request, org_slug: str) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = services.do_create_connection(self.get_org(), actor=self.actor, **data.validated_data)
        response = self._represent(connection, status.HTTP_201_CREATED)
        response["Location"] = response.data["url"]
        return response

    @extend_schema(request=s.ConnectionSerializer, responses={200: s.ConnectionSerializer, **ERRORS})
    def partial_update(self, request: Request, org_slug: str, name: str) -> Response:
        connection = self.get_object()
        data = self.get_serializer(connection, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        connection = services.do_update_connection(
            connection,
            actor=self.actor,
            name=data.validated_data.get("name"),
            description=data.validated_data.get("description"),
            config=data.validated_data.get("config"),
            secrets=data.validated_data.get("secrets"),
        )
        return self._represent(connection)

    @extend_schema(responses={204: None, **ERRORS})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete, unless something blocks it (400 with the reason; GET .../preview-delete/ lists what)."""
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance: Connection) -> None:
        services.do_delete_connection(instance, actor=self.actor)

    # --- credentials and status -------------------------------------------------------------------

    @extend_schema(request=s.RotateSerializer, responses={200: s.ConnectionSerializer, **ERRORS})
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def rotate(self, request: Request, org_slug: str, name: str) -> Response:
        """Replace some or all secrets; placeholders such as *** keep the stored value."""
        connection = self.get_object()
        data = s.RotateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = services.do_rotate_credentials(
            connection, actor=self.actor, secrets=data.validated_data["secrets"]
        )
        return self._represent(connection)

    @extend_schema(
        request=None,
        responses={
            200: s.ConnectionSerializer,
            202: OpenApiResponse(description="Queued on a worker (a broker is configured); poll the connection."),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def test(self, request: Request, org_slug: str, name: str) -> Response:
        """Test the credentials against the provider (users and up). Runs as a Celery task; with the
        default eager mode the saved result (health, last error, duration) comes back at once."""
        connection = self.get_object()
        result = services.do_request_connection_test(connection, actor=self.actor)
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            return Response({"status": "queued", "task_id": result.id}, status=status.HTTP_202_ACCEPTED)
        return self._represent(connection)

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="external_id, platform_account_id, policy (the IAM trust policy to paste), error",
            ),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["get"], url_path="trust-policy", filter_backends=[], pagination_class=None)
    def trust_policy(self, request: Request, org_slug: str, name: str) -> Response:
        """The External ID and the ready-to-paste IAM trust policy (AWS assume-role connections)."""
        trust = trust_policy_for(self.get_object())
        if trust is None:
            raise NotFound("This connection has no External ID (only AWS assume-role connections do).")
        return Response(trust)

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description=(
                    "issuer, subject, title, values [{name, label, value}], commands [{label, command}], "
                    "documents [{name, label, content}], notes, warning: what the cloud must trust (federated methods)"
                ),
            ),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["get"], url_path="federation-setup", filter_backends=[], pagination_class=None)
    def federation_setup(self, request: Request, org_slug: str, name: str) -> Response:
        """How the cloud trusts the platform's OIDC tokens for this connection (Azure federated, GCP workload
        identity, AWS web identity): issuer, subject, audience, the commands and documents to paste."""
        setup = federation_setup_for(self.get_object())
        if setup is None:
            raise NotFound("This connection does not use identity federation.")
        return Response(setup)

    @extend_schema(request=None, responses={200: s.ConnectionSerializer, **ERRORS})
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def activate(self, request: Request, org_slug: str, name: str) -> Response:
        connection = services.do_set_active(self.get_object(), actor=self.actor, active=True)
        return self._represent(connection)

    @extend_schema(request=None, responses={200: s.ConnectionSerializer, **ERRORS})
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def deactivate(self, request: Request, org_slug: str, name: str) -> Response:
        """A deactivated connection is never selected or used; its authorizations are kept."""
        connection = services.do_set_active(self.get_object(), actor=self.actor, active=False)
        return self._represent(connection)

    # --- environment authorizations ---------------------------------------------------------------

    def _authorizations(self, connection: Connection) -> Response:
        """The environments table that GET, PUT and POST all answer with, so clients see the outcome."""
        granted = {
            auth.environment_id: auth
            for auth in ConnectionAuthorization.objects.filter(connection=connection).select_related("created_by")
        }
        defaults = dict(
            ConnectionAuthorization.objects.filter(
                org=connection.org_id, provider=connection.provider, is_default=True
            ).values_list("environment_id", "connection__name")
        )
        rows = []
        for env in Environment.objects.filter(org=connection.org_id).order_by("slug"):
            auth = granted.get(env.pk)
            rows.append(
                {
                    "environment": env.slug,
                    "name": env.name,
                    "authorized": auth is not None,
                    "authorized_at": auth.created_at if auth else None,
                    "authorized_by": auth.created_by.email if auth and auth.created_by else None,
                    "is_default": bool(auth and auth.is_default),
                    "default_connection": defaults.get(env.pk),
                }
            )
        return Response(s.EnvironmentAuthorizationSerializer(rows, many=True).data)

    @extend_schema(responses={200: s.EnvironmentAuthorizationSerializer(many=True), 404: ERRORS[404]})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def authorizations(self, request: Request, org_slug: str, name: str) -> Response:
        """Every environment of the organization, with whether this connection is authorized there."""
        return self._authorizations(self.get_object())

    @extend_schema(
        request=s.AuthorizationSetSerializer, responses={200: s.EnvironmentAuthorizationSerializer(many=True), **ERRORS}
    )
    @authorizations.mapping.put
    def set_authorizations(self, request: Request, org_slug: str, name: str) -> Response:
        """Authorize exactly these environments (revoking the others)."""
        connection = self.get_object()
        data = s.AuthorizationSetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.do_set_authorizations(connection, data.validated_data["environments"], actor=self.actor)
        return self._authorizations(connection)

    @extend_schema(
        request=s.AuthorizationAddSerializer,
        responses={
            201: OpenApiResponse(s.EnvironmentAuthorizationSerializer(many=True), description="Authorized."),
            200: OpenApiResponse(s.EnvironmentAuthorizationSerializer(many=True), description="Already authorized."),
            **ERRORS,
        },
    )
    @authorizations.mapping.post
    def add_authorization(self, request: Request, org_slug: str, name: str) -> Response:
        """Authorize one more environment; the first connection of a provider there becomes its default."""
        connection = self.get_object()
        data = s.AuthorizationAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        slug = data.validated_data["environment"]
        env = Environment.objects.filter(org=connection.org_id, slug=slug).first()
        if env is None:
            raise DjangoValidationError({"environment": f"Unknown environment '{slug}'."})
        try:
            added = services.do_authorize_environment(connection, env, actor=self.actor)
        except DjangoValidationError as exc:  # the service keys its errors for the PUT body ("environments")
            raise DjangoValidationError({"environment": exc.messages}) from None
        response = self._authorizations(connection)
        response.status_code = status.HTTP_201_CREATED if added else status.HTTP_200_OK
        return response

    @extend_schema(
        parameters=[OpenApiParameter("env_slug", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={204: None, **ERRORS},
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"authorizations/(?P<env_slug>[^/]+)",
        url_name="authorization-detail",
        filter_backends=[],
        pagination_class=None,
    )
    def revoke_authorization(self, request: Request, org_slug: str, name: str, env_slug: str) -> Response:
        """Revoke one environment (204 also when it was not authorized: the outcome is the same)."""
        connection = self.get_object()
        env = Environment.objects.filter(org=connection.org_id, slug=env_slug).first()
        if env is None:
            raise Http404
        services.do_revoke_environment(connection, env, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OpenApiParameter("env_slug", OpenApiTypes.STR, OpenApiParameter.PATH)],
        request=None,
        responses={
            200: OpenApiResponse(s.EnvironmentAuthorizationSerializer(many=True), description="Now the default."),
            **ERRORS,
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"authorizations/(?P<env_slug>[^/]+)/default",
        url_name="authorization-default",
        filter_backends=[],
        pagination_class=None,
    )
    def set_default(self, request: Request, org_slug: str, name: str, env_slug: str) -> Response:
        """Make this connection the environment's default for its provider (it must be authorized there).

        Automatic selection picks the default; the others authorized there stay usable by name."""
        connection = self.get_object()
        env = Environment.objects.filter(org=connection.org_id, slug=env_slug).first()
        if env is None:
            raise Http404
        services.do_set_default_connection(connection, env, actor=self.actor)
        return self._authorizations(connection)

    # --- read-only extras -------------------------------------------------------------------------

    @extend_schema(responses={200: s.DeletionPreviewSerializer, 404: ERRORS[404]})
    @action(detail=True, methods=["get"], url_path="preview-delete", filter_backends=[], pagination_class=None)
    def preview_delete(self, request: Request, org_slug: str, name: str) -> Response:
        """What deleting would block on or take with it."""
        preview = services.deletion_preview(self.get_object(), actor=self.actor)
        return Response(preview.as_dict())

    @extend_schema(responses=s.ConnectionUsageSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def usage(self, request: Request, org_slug: str, name: str) -> Response:
        """Who or what used the credentials, newest first (paginated)."""
        connection = self.get_object()
        page = self.paginate_queryset(connection.usages.order_by("-created_at", "-id"))
        return self.get_paginated_response(s.ConnectionUsageSerializer(page, many=True).data)


class SelectionView(OrgScopedMixin, APIView):
    """Which connection a run in this environment would get for a provider, and why. Never a secret.

    When nothing can be selected the answer is 422 with the runtime's message word for word, so a
    pipeline shows the same text a failed run would.
    """

    @extend_schema(
        operation_id="environment_selection",
        parameters=[s.SelectionQuerySerializer],
        responses={
            200: s.SelectionSerializer,
            400: ERRORS[400],
            404: ERRORS[404],
            422: OpenApiResponse(
                s.ApiErrorSerializer,
                description="No connection can be selected: code no_connection_available or connection_not_authorized.",
            ),
        },
    )
    def get(self, request: Request, org_slug: str, env_slug: str) -> Response:
        org = self.get_org()
        # get_org() already proved membership; the slug is unique per org (no ordering needed).
        env = next(iter(Environment.objects.filter(org=org, slug=env_slug).order_by()[:1]), None)
        if env is None:
            raise Http404
        query = s.SelectionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        provider, resource_type = query.validated_data["provider"], query.validated_data.get("resource_type")
        try:
            selection = select_connection(org, env, provider, connection=query.validated_data.get("connection"))
        except SelectionError as exc:
            code = status.HTTP_422_UNPROCESSABLE_ENTITY
            return Response(error_body(code, exc.code, str(exc)), status=code)
        if resource_type:
            reason = f"{resource_type!r} is deployed with {provider} credentials. {selection.reason}"
            selection = dataclasses.replace(selection, reason=reason)
        context = {"request": request, "resource_type": resource_type}
        return Response(s.SelectionSerializer(selection, context=context).data)


class SelectionSlashView(SelectionView):
    """The same with a trailing slash (kept out of the schema to avoid a duplicate operation)."""

    schema = None
