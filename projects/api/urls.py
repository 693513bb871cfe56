"""Projects API routes under /api/v1/orgs/<org>/: projects, runs, usage analytics."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register(r"orgs/(?P<org_slug>[a-z0-9-]+)/projects", views.ProjectViewSet, basename="project")
router.register(r"orgs/(?P<org_slug>[a-z0-9-]+)/runs", views.RunViewSet, basename="run")

urlpatterns = [
    path("orgs/<slug:org_slug>/usage/", views.UsageView.as_view(), name="usage"),
    *router.urls,
]
