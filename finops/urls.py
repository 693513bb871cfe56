"""FinOps page routes under /o/<org_slug>/costs/."""

from django.urls import path

from . import views

COSTS = "o/<slug:org_slug>/costs/"

urlpatterns = [
    path(COSTS, views.DashboardView.as_view(), name="finops_dashboard"),
    path(f"{COSTS}budgets/new/", views.BudgetCreateView.as_view(), name="finops_budget_create"),
    path(f"{COSTS}budgets/<int:pk>/delete/", views.BudgetDeleteView.as_view(), name="finops_budget_delete"),
    path(f"{COSTS}sync/", views.SyncRequestView.as_view(), name="finops_sync"),
]
