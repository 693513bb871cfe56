"""Projects API: projects by name, their runs, run history across projects, log tail, cancel, usage.

Thin like the connections API: querysets start from `.restrict()`, permissions come from the policy
(`OrgScopedMixin`), writes go through `projects.services`. Creating a project needs MANAGE_PROJECTS
(provisioner); starting and canceling runs needs START_RUN (user, seed 004's role table).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import OrgScopedMixin
from accounts.policy import Action
from connections.api.serializers import ApiErrorSerializer

from .. import analytics, services
from ..filtersets import ProjectFilterSet, RunFilterSet
from ..models import RunLogLine, TerraformProject, TerraformRun
from . import serializers as s

ERRORS = {
    400: OpenApiResponse(ApiErrorSerializer, description="Invalid input; `error.fields` says where."),
    403: OpenApiResponse(ApiErrorSerializer, description="Your role does not allow it."),
    404: OpenApiResponse(ApiErrorSerializer, description="No such object in an organization you belong to."),
}
LOG_PAGE = 1000
RELATED = ("environment", "connection", "role", "role__connection", "backend_connection", "git_connection", "org")


@extend_schema_view(
    list=extend_schema(responses={200: s.ProjectSerializer(many=True), 404: ERRORS[404]}),
    retrieve=extend_schema(responses={200: s.ProjectSerializer, 404: ERRORS[404]}),
    create=extend_schema(request=s.ProjectWriteSerializer, responses={201: s.ProjectSerializer, **ERRORS}),
    partial_update=extend_schema(request=s.ProjectWriteSerializer, responses={200: s.ProjectSerializer, **ERRORS}),
    destroy=extend_schema(responses={204: None, **ERRORS}),
)
class ProjectViewSet(
    OrgScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Terraform projects of an organization, by name."""

    queryset = TerraformProject.objects.none()
    serializer_class = s.ProjectSerializer
    lookup_field = "name"
    lookup_value_regex = "[a-z0-9-]+"
    filterset_class = ProjectFilterSet
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]
    default_write_action = Action.MANAGE_PROJECTS
    action_policies = {"runs": Action.VIEW}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_org_queryset(self) -> QuerySet:
        return (
            self.restrict(TerraformProject.objects.all())
            .select_related(*RELATED)
            .defer("archive", "local_state_envelope")
        )

    def get_serializer_class(self) -> Any:
        if self.action in ("create", "partial_update"):
            return s.ProjectWriteSerializer
        return s.ProjectSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        write = s.ProjectWriteSerializer(data=request.data)
        write.is_valid(raise_exception=True)
        project = services.do_create_project(self.get_org(), actor=self.actor, **write.service_data())
        return Response(s.ProjectSerializer(project).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.get_object()
        write = s.ProjectWriteSerializer(data=request.data, partial=True)
        write.is_valid(raise_exception=True)
        project = services.do_update_project(
            TerraformProject.objects.select_related(*RELATED).get(pk=project.pk), actor=self.actor,
            **write.service_data(),
        )  # fmt: skip
        return Response(s.ProjectSerializer(project).data)

    def perform_destroy(self, instance: TerraformProject) -> None:
        services.do_delete_project(instance, actor=self.actor)

    @extend_schema(
        methods=["get"],
        responses={200: s.RunSerializer(many=True), 404: ERRORS[404]},
    )
    @extend_schema(methods=["post"], request=s.RunCreateSerializer, responses={201: s.RunSerializer, **ERRORS})
    @action(detail=True, methods=["get", "post"], url_path="runs")
    def runs(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.get_object()
        if request.method == "POST":
            body = s.RunCreateSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            run = services.do_start_run(project, actor=self.actor, kind=body.validated_data["kind"])
            return Response(s.RunSerializer(run).data, status=status.HTTP_201_CREATED)
        runs = (
            TerraformRun.objects.restrict(self.actor, Action.VIEW)
            .filter(project=project)
            .select_related("project", "connection")
        )
        page = self.paginate_queryset(runs)
        return self.get_paginated_response(s.RunSerializer(page, many=True).data)

    def required_action(self) -> Action:
        if self.action == "runs" and self.request.method == "POST":
            return Action.START_RUN
        return super().required_action()


@extend_schema_view(
    list=extend_schema(responses={200: s.RunSerializer(many=True), 404: ERRORS[404]}),
    retrieve=extend_schema(responses={200: s.RunSerializer, 404: ERRORS[404]}),
)
class RunViewSet(OrgScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Run history of the organization (filters: project, status, kind, environment, connection, dates)."""

    queryset = TerraformRun.objects.none()
    serializer_class = s.RunSerializer
    filterset_class = RunFilterSet
    ordering_fields = ["created_at", "finished_at", "duration_ms"]
    ordering = ["-created_at"]
    default_write_action = Action.START_RUN
    action_policies = {"log": Action.VIEW, "cancel": Action.START_RUN}

    def get_org_queryset(self) -> QuerySet:
        return (
            self.restrict(TerraformRun.objects.all())
            .select_related("project", "connection", "org")
        )

    @extend_schema(request=None, responses={200: s.RunSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run = self.get_object()
        return Response(s.RunSerializer(services.do_cancel_run(run, actor=self.actor)).data)

    @extend_schema(
        parameters=[OpenApiParameter("after", OpenApiTypes.INT, description="Only lines after this seq.")],
        responses={200: s.LogSerializer, 404: ERRORS[404]},
    )
    @action(detail=True, methods=["get"])
    def log(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run = self.get_object()
        return Response(log_payload(run, request.query_params.get("after")))


def log_payload(run: TerraformRun, after: Any) -> dict[str, Any]:
    try:
        start = max(0, int(after or 0))
    except (TypeError, ValueError):
        start = 0
    lines = list(RunLogLine.objects.filter(run=run, seq__gt=start).order_by("seq")[:LOG_PAGE])
    return {
        "status": run.status,
        "finished": run.finished,
        "next_after": lines[-1].seq if lines else start,
        "lines": [{"seq": line.seq, "text": line.text} for line in lines],
    }


class UsageView(OrgScopedMixin, APIView):
    """Usage analytics of the organization, or of one connection or environment (`?connection=`, `?environment=`)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("connection", OpenApiTypes.STR),
            OpenApiParameter("environment", OpenApiTypes.STR),
            OpenApiParameter("days", OpenApiTypes.INT, description="Window in days (1-365, default 30)."),
        ],
        responses={200: OpenApiTypes.OBJECT, 404: ERRORS[404]},
    )
    def get(self, request: Request, org_slug: str) -> Response:
        org = self.get_org()
        try:
            data = analytics.usage(
                org, actor=self.actor, connection=request.query_params.get("connection") or None,
                environment=request.query_params.get("environment") or None,
                days=request.query_params.get("days") or 30,
            )  # fmt: skip
        except analytics.NotFound as exc:
            raise Http404(str(exc)) from None
        return Response(analytics.as_json(data))
