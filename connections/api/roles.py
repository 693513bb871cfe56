"""Connection roles API: /api/v1/orgs/<org>/connections/<name>/roles/ (list, add, get, validate, delete).

Thin, like the rest of the API: the queryset starts from `.restrict()`, permissions come from the
policy module (`OrgScopedMixin`), and every write goes through a service in
`connections.role_validation`, which checks the policy again and writes the audit event. Reads need
VIEW (every member); add, validate and delete need MANAGE_ROLES (provisioner, admin, or a per-object
grant on the connection, which is why writes are checked against the connection rather than the org).

Validation runs as the Celery task `validate_role_task`, asked for through
`services.do_request_role_validation`: eagerly by default, so the response carries the new status
(200); with a broker the task is queued and the response is 202 with the role as it is.
"""

from __future__ import annotations

from typing import Any

from celery.result import EagerResult
from django.db.models import QuerySet
from django.http import Http404
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from accounts.api.permissions import OrgScopedMixin
from accounts.policy import Action

from ..models import Connection, ConnectionRole
from ..providers.contract import ADVICE_CODES
from ..role_validation import do_add_role, do_delete_role
from ..services import do_request_role_validation
from .serializers import ApiErrorSerializer

ERRORS = {
    400: OpenApiResponse(ApiErrorSerializer, description="Invalid input; `error.fields` says where."),
    403: OpenApiResponse(ApiErrorSerializer, description="Your role does not allow it (provisioner or admin)."),
    404: OpenApiResponse(ApiErrorSerializer, description="No such connection or role in an organization of yours."),
}


def role_url(request: Request | None, role: ConnectionRole) -> str:
    kwargs = {"org_slug": role.connection.org.slug, "name": role.connection.name, "pk": role.pk}
    return reverse("connection-role-detail", kwargs=kwargs, request=request)


class RoleAdviceSerializer(serializers.Serializer):
    """One least-privilege finding of the role's last validation (advice: the status does not change)."""

    code = serializers.ChoiceField(
        choices=ADVICE_CODES, help_text="wildcard_action (`*`, `service:*`, NotAction), wildcard_resource "
        "(Resource `*`) or admin_policy (AdministratorAccess, PowerUserAccess, IAMFullAccess; Azure Owner, "
        "Contributor, User Access Administrator at the subscription or wider)."
    )
    message = serializers.CharField(help_text="Which policy or assignment, and what to narrow.")


class ConnectionRoleSerializer(serializers.ModelSerializer):
    """A role and its last validation. Holds nothing secret (an Azure role has no secret at all)."""

    connection = serializers.CharField(source="connection.name", read_only=True)
    provider = serializers.CharField(source="connection.provider", read_only=True)
    granted_permissions = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="AWS: action patterns the role's policies allow (wildcards kept; NotAction as '* except …'). "
        "Azure: names of the assigned roles (with the scope when it is not the subscription).",
    )
    detected_permissions = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="What the code using the role needs."
    )
    denied_permissions = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Action patterns explicitly denied (AWS)."
    )
    missing_permissions = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Detected permissions the role is not allowed."
    )
    advice = RoleAdviceSerializer(many=True, read_only=True)
    created_by = serializers.EmailField(source="created_by.email", read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = ConnectionRole
        fields = [
            "id",
            "connection",
            "provider",
            "name",
            "role_arn",
            "session_duration",
            "client_id",
            "object_id",
            "status",
            "granted_permissions",
            "detected_permissions",
            "denied_permissions",
            "missing_permissions",
            "advice",
            "validation_error",
            "validated_at",
            "last_valid_at",
            "created_by",
            "created_at",
            "updated_at",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, obj: ConnectionRole) -> str:
        return role_url(self.context.get("request"), obj)


class ConnectionRoleCreateSerializer(serializers.Serializer):
    """Types only: the rules (ARN format and account, duration range, GUIDs) live in `do_add_role`."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text="A label.")
    role_arn = serializers.CharField(
        required=False, allow_blank=True, max_length=2048, help_text="AWS: arn:aws:iam::<account>:role/<name>."
    )
    session_duration = serializers.IntegerField(
        required=False, allow_null=True, help_text="AWS: seconds, 900-43200 (default 3600)."
    )
    client_id = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Azure: application (client) ID."
    )
    object_id = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Azure: the service principal's object ID."
    )


@extend_schema_view(
    list=extend_schema(responses={200: ConnectionRoleSerializer(many=True), 404: ERRORS[404]}),
    retrieve=extend_schema(responses={200: ConnectionRoleSerializer, 404: ERRORS[404]}),
)
class ConnectionRoleViewSet(
    OrgScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """The roles of one connection (AWS IAM roles, Azure service principals) and their validation."""

    queryset = ConnectionRole.objects.none()
    serializer_class = ConnectionRoleSerializer
    ordering_fields = ["created_at", "name", "status", "validated_at"]
    ordering = ["created_at"]
    default_write_action = Action.MANAGE_ROLES
    # Writes are decided on the connection (role, or a django-guardian grant on that connection).
    object_level_actions = ("create", "destroy", "validate")

    def get_connection(self) -> Connection:
        if not hasattr(self, "_connection"):
            connection = (
                self.restrict(Connection.objects.all())
                .filter(name=self.kwargs["name"])
                .select_related("org")
                .first()
            )
            if connection is None:
                raise Http404("Connection not found.")
            self._connection = connection
        return self._connection

    def get_org_queryset(self) -> QuerySet:
        return (
            self.restrict(ConnectionRole.objects.all())
            .filter(connection=self.get_connection())
            .select_related("connection", "connection__org", "created_by")
        )

    def _writable_role(self) -> ConnectionRole:
        """The role of the URL, after checking MANAGE_ROLES on its connection (403) - 404 when not visible."""
        role = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if role is None:
            raise Http404("Role not found.")
        self.check_object_permissions(self.request, role.connection)
        return role

    def _represent(self, role: ConnectionRole, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=role.pk)
        return Response(self.get_serializer(fresh).data, status=status_code)

    @extend_schema(request=ConnectionRoleCreateSerializer, responses={201: ConnectionRoleSerializer, **ERRORS})
    def create(self, request: Request, org_slug: str, name: str) -> Response:
        """Add a role (status pending). AWS: `role_arn` in the connection's account and `session_duration`;
        Azure: `client_id` and `object_id` of the service principal."""
        connection = self.get_connection()
        self.check_object_permissions(request, connection)
        data = ConnectionRoleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        role = do_add_role(connection, actor=self.actor, **data.validated_data)
        response = self._represent(role, status.HTTP_201_CREATED)
        response["Location"] = response.data["url"]
        return response

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(ConnectionRoleSerializer, description="Validated (eager mode): the new status."),
            202: OpenApiResponse(ConnectionRoleSerializer, description="Queued for a worker: the current status."),
            403: ERRORS[403],
            404: ERRORS[404],
        },
    )
    def validate(self, request: Request, org_slug: str, name: str, pk: int) -> Response:
        """Validate the role now: assume it, check its trust policy and permissions (see the role's status)."""
        role = self._writable_role()
        result = do_request_role_validation(role, actor=self.actor)
        queued = not isinstance(result, EagerResult)
        return self._represent(role, status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK)

    @extend_schema(responses={204: None, 403: ERRORS[403], 404: ERRORS[404]})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Remove the role from the connection (the IAM role or service principal itself is untouched)."""
        do_delete_role(self._writable_role(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


_list = ConnectionRoleViewSet.as_view({"get": "list", "post": "create"})
_detail = ConnectionRoleViewSet.as_view({"get": "retrieve", "delete": "destroy"})
_validate = ConnectionRoleViewSet.as_view({"post": "validate"})

urlpatterns = [
    path("orgs/<slug:org_slug>/connections/<str:name>/roles/", _list, name="connection-role-list"),
    path("orgs/<slug:org_slug>/connections/<str:name>/roles/<int:pk>/", _detail, name="connection-role-detail"),
    path(
        "orgs/<slug:org_slug>/connections/<str:name>/roles/<int:pk>/validate/",
        _validate,
        name="connection-role-validate",
    ),
]
