"""FinOps in the admin site (platform operators only, like the whole admin): read-only, since costs change
only through syncs and budgets through the services, which check the policy and audit."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import ReadOnlyAdmin

from .models import Budget, BudgetAlert, CostAnomaly, CostRecord, SyncJob


class _CostsAdmin(ReadOnlyAdmin):
    pass


@admin.register(CostRecord)
class CostRecordAdmin(_CostsAdmin):
    list_display = ["charge_period_start", "org", "connection", "service_name", "billed_cost", "billing_currency",
                    "environment"]  # fmt: skip
    list_filter = ["provider", "billing_currency"]
    list_select_related = ["org", "connection", "environment"]
    search_fields = ["service_name", "connection__name"]
    date_hierarchy = "charge_period_start"


@admin.register(SyncJob)
class SyncJobAdmin(_CostsAdmin):
    list_display = ["created_at", "org", "connection", "kind", "status", "range_start", "range_end", "rows_written"]
    list_filter = ["status", "kind"]
    list_select_related = ["org", "connection"]


@admin.register(Budget)
class BudgetAdmin(_CostsAdmin):
    list_display = ["name", "org", "scope", "amount", "currency"]
    list_select_related = ["org"]


@admin.register(BudgetAlert)
class BudgetAlertAdmin(_CostsAdmin):
    list_display = ["created_at", "org", "budget", "month", "threshold", "kind"]
    list_select_related = ["org", "budget"]


@admin.register(CostAnomaly)
class CostAnomalyAdmin(_CostsAdmin):
    list_display = ["day", "org", "connection", "service_name", "cost", "baseline_mean"]
    list_select_related = ["org", "connection"]
