"""FinOps pages: the cost dashboard, budget create/delete, and asking for a sync (or a backfill).

Pages call the same services and reports as the API; the dashboard's charts are server-rendered SVG
with the same numbers in tables, so it works without JavaScript.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.forms import Form
from django.http import HttpResponseBase, HttpResponseRedirect
from django.views.generic import TemplateView

from accounts.mixins import OrgFormView, OrgPageMixin
from accounts.models import Environment
from accounts.policy import Action
from connections.models import Connection
from core.paging import page_of

from . import charts, reports, services
from .forms import BudgetForm, SyncForm
from .models import Budget

BUDGET_PAGE_SIZE = 25


class DashboardView(OrgPageMixin, TemplateView):
    template_name = "finops/dashboard.html"
    required_action = Action.VIEW_COSTS
    nav_section = "finops"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # Budgets grow with the organization: one page of them (`budget_page`), their statuses for that page only.
        rows = Budget.objects.filter(org=self.org).select_related("org", "environment", "connection")
        budgets = page_of(self.request, rows.order_by("name", "pk"), BUDGET_PAGE_SIZE, "budget_page")
        data = reports.dashboard(self.org, on=services.today(), budgets=list(budgets.object_list))
        currencies = [row["currency"] for row in data.comparison]
        context.update(
            budgets_page=budgets,
            dashboard=data,
            daily_charts=[(c, charts.daily_bars(data.daily, c)) for c in currencies],
            service_bars=(service_bars := charts.share_bars(data.by_service)),
            environment_bars=(environment_bars := charts.share_bars(data.by_environment)),
            service_chart_height=len(service_bars) * 24,
            environment_chart_height=len(environment_bars) * 24,
            project_bars=(project_bars := charts.share_bars(data.by_project)),
            project_chart_height=len(project_bars) * 24,
            project_tag=settings.FINOPS_PROJECT_TAG,
            chart_width=charts.WIDTH,
            chart_height=charts.HEIGHT,
        )
        if self.can(Action.MANAGE_BUDGETS):
            context["budget_form"] = BudgetForm(environments=self._environments(), connections=self._connections())
        if self.can(Action.SYNC_COSTS):
            context["sync_form"] = SyncForm(connections=self._connections())
        return context

    def _environments(self) -> Any:
        return Environment.objects.filter(org=self.org).order_by("slug")

    def _connections(self) -> Any:
        return Connection.objects.filter(org=self.org).order_by("name")


class BudgetCreateView(OrgFormView):
    template_name = "finops/budget_form.html"
    form_class = BudgetForm
    required_action = Action.MANAGE_BUDGETS
    nav_section = "finops"
    success_url_name = "finops_dashboard"
    service = staticmethod(services.do_create_budget)
    success_message = "Budget “{result.name}” created."

    def get_form_kwargs(self) -> dict[str, Any]:
        return {
            **super().get_form_kwargs(),
            "environments": Environment.objects.filter(org=self.org).order_by("slug"),
            "connections": Connection.objects.filter(org=self.org).order_by("name"),
        }

    def service_arguments(self, form: Form) -> tuple[tuple[Any, ...], dict[str, Any]]:
        data = dict(form.cleaned_data)
        data["environment"] = data.get("environment") or None
        data["connection"] = data.get("connection") or None
        return (self.org,), data


class BudgetDeleteView(OrgFormView):
    template_name = "finops/budget_confirm_delete.html"
    form_class = Form
    required_action = Action.MANAGE_BUDGETS
    nav_section = "finops"
    success_url_name = "finops_dashboard"
    service = staticmethod(services.do_delete_budget)
    success_message = "Budget deleted."

    def resolve_objects(self) -> None:
        self.budget = self.get_org_object(Budget, pk=self.kwargs["pk"])

    def service_target(self) -> Budget:
        return self.budget

    def service_arguments(self, form: Form) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.budget,), {}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(budget=self.budget, **kwargs)


class SyncRequestView(OrgFormView):
    template_name = "finops/sync_form.html"
    form_class = SyncForm
    required_action = Action.SYNC_COSTS
    nav_section = "finops"
    success_url_name = "finops_dashboard"
    service = staticmethod(services.do_request_sync)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "connections": Connection.objects.filter(org=self.org).order_by("name")}

    def service_arguments(self, form: Form) -> tuple[tuple[Any, ...], dict[str, Any]]:
        connection = self.get_org_object(Connection, Action.SYNC_COSTS, name=form.cleaned_data["connection"])
        start, end = form.cleaned_data.get("start"), form.cleaned_data.get("end")
        if start is None and end is None:
            return (connection,), {}
        return (connection,), {"start": start, "end": end or services.today()}

    def service_succeeded(self, form: Form, result: Any) -> HttpResponseBase:
        level = messages.success if result.status in ("succeeded", "queued", "running") else messages.warning
        detail = f" {result.error}" if result.error else ""
        level(self.request, f"Cost sync of '{result.connection.name}': {result.get_status_display()}.{detail}")
        return HttpResponseRedirect(self.org_url("finops_dashboard"))
