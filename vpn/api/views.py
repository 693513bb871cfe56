"""VPN API under /api/v1/orgs/<org>/vpn/: list, detail, create, and the provision, destroy,
health-check and router-config actions. Thin: querysets from `.restrict()`, the policy from
`OrgScopedMixin`, every change through a `do_*` service (which checks the policy again)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.permissions import OrgScopedMixin
from accounts.policy import Action
from connections.api.serializers import ApiErrorSerializer
from connections.models import Connection
from core.api.filters import FilterBackend

from .. import services
from ..downloads import do_download_router_config
from ..filtersets import VpnFilterSet
from ..models import VpnConnection, connections_by_network
from . import serializers as s

ERRORS = {
    400: OpenApiResponse(ApiErrorSerializer, description="Invalid input or state; `error.fields` says where."),
    403: OpenApiResponse(ApiErrorSerializer, description="Your role (or the plan: `plan_limit`) does not allow it."),
    404: OpenApiResponse(ApiErrorSerializer, description="No such VPN in an organization you belong to."),
}
QUEUED = OpenApiResponse(description="Queued on a worker (a broker is configured); poll the VPN.")


class VpnViewSet(OrgScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """An organization's site-to-site VPNs. Reads: every member; changes: provisioners and admins."""

    queryset = VpnConnection.objects.none()
    serializer_class = s.VpnSerializer
    filterset_class = VpnFilterSet
    filter_backends = [FilterBackend]
    http_method_names = ["get", "post", "head", "options"]
    default_write_action = Action.MANAGE_VPN
    action_policies = {"router_config": Action.DOWNLOAD_ROUTER_CONFIG}

    def get_org_queryset(self) -> QuerySet:
        return (
            self.restrict(VpnConnection.objects.all())
            .select_related("org")
            .defer("psk_envelope")
            .order_by("onprem_subnet", "public_ip")
        )

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if self.action == "list" and not getattr(self, "swagger_fake_view", False):
            context["connections_by_network"] = connections_by_network([self.get_org().pk])
        return context

    def _represent(self, vpn: VpnConnection, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=vpn.pk)
        return Response(self.get_serializer(fresh).data, status=status_code)

    def _after_task(self, vpn: VpnConnection, result: Any) -> Response:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            return Response({"status": "queued", "task_id": result.id}, status=status.HTTP_202_ACCEPTED)
        return self._represent(vpn)

    @extend_schema(request=s.VpnSerializer, responses={201: s.VpnSerializer, 200: s.VpnSerializer, **ERRORS})
    def create(self, request: Request, org_slug: str) -> Response:
        """The VPN of an on-prem network (201), or the existing one of that (subnet, public IP) (200).
        Nothing is created in the cloud until `provision`; the estimated monthly cost is in the answer."""
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        org, values = self.get_org(), data.validated_data
        before = set(VpnConnection.objects.filter(org=org).values_list("pk", flat=True))
        if values.get("connection"):
            visible = Connection.objects.restrict(self.actor, Action.VIEW).filter(org=org)
            connection = visible.filter(name=values["connection"]).first()
            if connection is None:
                raise ValidationError({"connection": f"No connection named '{values['connection']}' in {org.slug}."})
            vpn = services.do_create_vpn_for_connection(connection, actor=self.actor)
        else:
            vpn = services.do_create_vpn(
                org, actor=self.actor, onprem_subnet=values["onprem_subnet"], public_ip=values["public_ip"],
                router_vendor=values.get("router_vendor", ""),
            )  # fmt: skip
        response = self._represent(vpn, status.HTTP_200_OK if vpn.pk in before else status.HTTP_201_CREATED)
        response["Location"] = response.data["url"]
        return response

    @extend_schema(request=None, responses={200: s.VpnSerializer, 202: QUEUED, **ERRORS})
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def provision(self, request: Request, org_slug: str, pk: str) -> Response:
        """Create (or repair) the VPN in the platform's AWS account; repeating it never duplicates a resource."""
        vpn = self.get_object()
        return self._after_task(vpn, services.do_request_provision(vpn, actor=self.actor))

    @extend_schema(request=None, responses={200: s.VpnSerializer, 202: QUEUED, **ERRORS})
    @action(detail=True, methods=["post"], url_path="destroy", filter_backends=[], pagination_class=None)
    def teardown(self, request: Request, org_slug: str, pk: str) -> Response:
        """Tear the VPN down (400 listing the on-prem connections that still use it)."""
        vpn = self.get_object()
        return self._after_task(vpn, services.do_request_destroy(vpn, actor=self.actor))

    @extend_schema(request=None, responses={200: s.VpnSerializer, 202: QUEUED, **ERRORS})
    @action(detail=True, methods=["post"], url_path="health-check", filter_backends=[], pagination_class=None)
    def health_check(self, request: Request, org_slug: str, pk: str) -> Response:
        """Tunnel 1 and 2 state, and each on-prem connection's own test; saved in `health`."""
        vpn = self.get_object()
        return self._after_task(vpn, services.do_request_health_check(vpn, actor=self.actor))

    @extend_schema(
        parameters=[OpenApiParameter("vendor", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True)],
        responses={(200, "text/plain"): OpenApiTypes.STR, **ERRORS},
    )
    @action(detail=True, methods=["get"], url_path="router-config", filter_backends=[], pagination_class=None)
    def router_config(self, request: Request, org_slug: str, pk: str) -> HttpResponse:
        """The router configuration for `vendor`, as a file (it holds the pre-shared keys; audited)."""
        vpn = self.get_object()
        query = s.RouterConfigQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        config = do_download_router_config(vpn, actor=self.actor, vendor=query.validated_data["vendor"])
        response = HttpResponse(config.content, content_type=config.content_type)
        response["Content-Disposition"] = f'attachment; filename="{config.filename}"'
        response["Cache-Control"] = "no-store"
        return response
