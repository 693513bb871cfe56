"""FinOps API under /api/v1/orgs/<org>/: grouped costs, cost records, CSV and FOCUS exports, budgets,
sync jobs (and asking for a sync or a backfill), anomalies.

Reads need `VIEW_COSTS` (every member), budget writes `MANAGE_BUDGETS` and syncs `SYNC_COSTS` (admins);
every write goes through a `finops.services` function, which checks the policy again and audits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.permissions import OrgScopedMixin
from accounts.policy import Action
from connections.api.serializers import ApiErrorSerializer
from connections.models import Connection
from core.api.filters import FilterBackend
from core.api.pagination import ReportPagination, StandardPagination

from .. import services
from ..exports import FOCUS_COLUMNS, PLAIN_COLUMNS, focus_rows, plain_rows, stream_csv
from ..filtersets import CostAnomalyFilterSet, CostRecordFilterSet, SyncJobFilterSet
from ..models import Budget, CostAnomaly, CostRecord, SyncJob
from ..reports import budget_statuses, grouped, month_start
from . import serializers as s

ERRORS = {
    400: OpenApiResponse(ApiErrorSerializer, description="Invalid input; `error.fields` says where."),
    403: OpenApiResponse(ApiErrorSerializer, description="Your role does not allow it."),
    404: OpenApiResponse(ApiErrorSerializer, description="No such object in an organization you belong to."),
}


class CSVRenderer(renderers.BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation; the export views stream their own body."""

    media_type = "text/csv"
    format = ""
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return renderers.JSONRenderer().render(data)  # only errors reach a renderer here


class CostViewSet(OrgScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """`GET costs/`: sums per `group_by` and currency over a day range (and the record filters).

    `costs/records/`: the FOCUS rows themselves; `costs/export/`: a CSV of them; `costs/focus/`: a FOCUS
    dataset (CSV) that the FinOps Foundation's `focus-validator` accepts.

    The sums are a report computed in full (ordered by amount), so they keep page numbers and a `count`
    (`ReportPagination`); the records are rows, paginated by keyset like every other list."""

    queryset = CostRecord.objects.none()
    serializer_class = s.CostGroupSerializer
    filterset_class = CostRecordFilterSet
    filter_backends = [FilterBackend]
    pagination_class = ReportPagination
    default_write_action = Action.MANAGE_BUDGETS

    def required_action(self) -> Action:
        return Action.VIEW_COSTS

    def get_org_queryset(self) -> QuerySet:
        return self.restrict(CostRecord.objects.all(), Action.VIEW_COSTS)

    def _range(self) -> tuple[str, dt.date, dt.date]:
        query = s.CostQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        today = services.today()
        start = query.validated_data.get("start") or month_start(today)
        end = query.validated_data.get("end") or today
        if start > end:
            raise ValidationError({"start": ["The range must start on or before its end."]})
        return query.validated_data["group_by"], start, end

    def _records(self) -> QuerySet:
        _, start, end = self._range()
        records = self.filter_queryset(self.get_queryset())
        return records.filter(charge_period_start__gte=start, charge_period_start__lte=end)

    @extend_schema(
        parameters=[s.CostQuerySerializer],
        responses={200: s.CostGroupSerializer(many=True), 400: ERRORS[400]},
    )
    def list(self, request: Request, org_slug: str) -> Response:
        group_by, _, _ = self._range()
        rows = grouped(self._records(), group_by)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.CostGroupSerializer(page, many=True).data)

    @extend_schema(parameters=[s.CostQuerySerializer], responses={200: s.CostRecordSerializer(many=True),
                                                                  400: ERRORS[400]})  # fmt: skip
    @action(
        detail=False, methods=["get"], serializer_class=s.CostRecordSerializer, pagination_class=StandardPagination
    )
    def records(self, request: Request, org_slug: str) -> Response:
        records = self._records().select_related("connection", "environment").order_by("charge_period_start", "pk")
        page = self.paginate_queryset(records)
        return self.get_paginated_response(s.CostRecordSerializer(page, many=True).data)

    @extend_schema(parameters=[s.CostQuerySerializer], filters=True,
                   responses={(200, "text/csv"): OpenApiTypes.STR, 400: ERRORS[400]})  # fmt: skip
    @action(detail=False, methods=["get"], renderer_classes=[renderers.JSONRenderer, CSVRenderer])
    def export(self, request: Request, org_slug: str) -> StreamingHttpResponse:
        return self._csv(stream_csv(PLAIN_COLUMNS, plain_rows(self._records())), "costs")

    @extend_schema(parameters=[s.CostQuerySerializer], filters=True,
                   responses={(200, "text/csv"): OpenApiTypes.STR, 400: ERRORS[400]})  # fmt: skip
    @action(detail=False, methods=["get"], renderer_classes=[renderers.JSONRenderer, CSVRenderer])
    def focus(self, request: Request, org_slug: str) -> StreamingHttpResponse:
        return self._csv(stream_csv(FOCUS_COLUMNS, focus_rows(self._records())), "focus")

    def _csv(self, body: Any, name: str) -> StreamingHttpResponse:
        _, start, end = self._range()
        response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
        filename = f"{self.get_org().slug}-{name}-{start}-{end}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class BudgetViewSet(OrgScopedMixin, viewsets.ModelViewSet):
    """Monthly budgets (everyone who may view costs reads them; admins write)."""

    queryset = Budget.objects.none()
    serializer_class = s.BudgetSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["name", "amount", "created_at"]
    ordering = ["name"]
    default_write_action = Action.MANAGE_BUDGETS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def required_action(self) -> Action:
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return Action.VIEW_COSTS
        return Action.MANAGE_BUDGETS

    def get_org_queryset(self) -> QuerySet:
        return (
            self.restrict(Budget.objects.all(), Action.VIEW_COSTS)
            .select_related("org", "environment", "connection")
        )

    def _context(self, budgets: list[Budget]) -> dict[str, Any]:
        statuses = budget_statuses(self.get_org(), on=services.today(), budgets=budgets)
        return {**self.get_serializer_context(), "statuses": {st.budget.pk: st for st in statuses}}

    def list(self, request: Request, org_slug: str) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())))
        return self.get_paginated_response(s.BudgetSerializer(page, many=True, context=self._context(page)).data)

    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        budget = self.get_object()
        return Response(s.BudgetSerializer(budget, context=self._context([budget])).data)

    @extend_schema(request=s.BudgetSerializer, responses={201: s.BudgetSerializer, 400: ERRORS[400], 403: ERRORS[403]})
    def create(self, request: Request, org_slug: str) -> Response:
        data = s.BudgetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        budget = services.do_create_budget(self.get_org(), actor=self.actor, **data.validated_data)
        body = s.BudgetSerializer(budget, context=self._context([budget])).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.BudgetUpdateSerializer, responses={200: s.BudgetSerializer, 400: ERRORS[400]})
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        budget = self.get_object()
        data = s.BudgetUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        budget = services.do_update_budget(budget, actor=self.actor, **data.validated_data)
        return Response(s.BudgetSerializer(budget, context=self._context([budget])).data)

    def perform_destroy(self, instance: Budget) -> None:
        services.do_delete_budget(instance, actor=self.actor)


class SyncJobViewSet(OrgScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Cost sync jobs: status, range, rows written, error. `POST` asks for a sync (a backfill with a range)."""

    queryset = SyncJob.objects.none()
    serializer_class = s.SyncJobSerializer
    filterset_class = SyncJobFilterSet
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]

    def required_action(self) -> Action:
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return Action.VIEW_COSTS
        return Action.SYNC_COSTS

    def get_org_queryset(self) -> QuerySet:
        return self.restrict(SyncJob.objects.all(), Action.VIEW_COSTS).select_related(
            "connection"
        )

    @extend_schema(request=s.SyncRequestSerializer, responses={202: s.SyncJobSerializer, 400: ERRORS[400],
                                                                403: ERRORS[403], 404: ERRORS[404]})  # fmt: skip
    def create(self, request: Request, org_slug: str) -> Response:
        data = s.SyncRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = (
            self.restrict(Connection.objects.all())
            .filter(name=data.validated_data["connection"])
            .first()
        )
        if connection is None:
            raise NotFound("No such connection.")
        job = services.do_request_sync(
            connection, actor=self.actor, start=data.validated_data.get("start"), end=data.validated_data.get("end")
        )
        return Response(s.SyncJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class CostAnomalyViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    queryset = CostAnomaly.objects.none()
    serializer_class = s.CostAnomalySerializer
    filterset_class = CostAnomalyFilterSet
    ordering_fields = ["day", "cost"]
    ordering = ["-day"]

    def required_action(self) -> Action:
        return Action.VIEW_COSTS

    def get_org_queryset(self) -> QuerySet:
        return self.restrict(CostAnomaly.objects.all(), Action.VIEW_COSTS).select_related(
            "connection"
        )


__all__ = ["BudgetViewSet", "CostAnomalyViewSet", "CostViewSet", "SyncJobViewSet"]
