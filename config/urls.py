"""URL routes: pages under /o/<org>/, the API under /api/v1/, docs, admin and health probes."""

from django.contrib import admin
from django.urls import include, path
from django.views.defaults import page_not_found, server_error
from drf_spectacular.views import SpectacularAPIView

from accounts.authn.views import admin_login
from core import health
from core.api.docs import docs_view
from core.api.errors import json_error_view

admin.site.login = admin_login  # login hardening: the admin signs in through /login/ (limits, two-factor)

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("connections.api.urls")),
    path("api/v1/", include("vpn.api.urls")),
    path("api/v1/", include("finops.api.urls")),
    path("api/v1/", include("projects.api.urls")),
    path("", include("identity.urls")),
    path("", include("connections.urls")),
    path("", include("vpn.urls")),
    path("", include("finops.urls")),
    path("", include("projects.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", docs_view("api-schema"), name="api-docs"),
    path("", include("accounts.urls")),
]


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error_view(404, "not_found", "Not found.")
    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return json_error_view(500, "server_error", "Internal server error.")
    return server_error(request)
