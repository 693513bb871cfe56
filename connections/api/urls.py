"""Connections API routes under /api/v1/: providers, connections by name, and credential selection."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register(r"providers", views.ProviderViewSet, basename="provider")
router.register(r"orgs/(?P<org_slug>[a-z0-9-]+)/connections", views.ConnectionViewSet, basename="connection")

urlpatterns = [
    path(
        "orgs/<slug:org_slug>/environments/<slug:env_slug>/selection",
        views.SelectionView.as_view(),
        name="environment-selection",
    ),
    path("orgs/<slug:org_slug>/environments/<slug:env_slug>/selection/", views.SelectionSlashView.as_view()),
    path("", include("connections.api.roles")),
    *router.urls,
]
