"""FinOps API routes under /api/v1/orgs/<org>/."""

from rest_framework.routers import SimpleRouter

from . import views

ORG = r"orgs/(?P<org_slug>[a-z0-9-]+)"

router = SimpleRouter()
router.register(rf"{ORG}/costs", views.CostViewSet, basename="cost")
router.register(rf"{ORG}/budgets", views.BudgetViewSet, basename="budget")
router.register(rf"{ORG}/cost-syncs", views.SyncJobViewSet, basename="cost-sync")
router.register(rf"{ORG}/cost-anomalies", views.CostAnomalyViewSet, basename="cost-anomaly")

urlpatterns = router.urls
