"""Accounts API routes under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.authn.api import OrgSecurityView

from . import views

router = SimpleRouter()
router.register(r"orgs", views.OrganizationViewSet, basename="org")
router.register(r"orgs/(?P<org_slug>[a-z0-9-]+)/environments", views.EnvironmentViewSet, basename="environment")
router.register(r"orgs/(?P<org_slug>[a-z0-9-]+)/members", views.MemberViewSet, basename="member")
router.register(r"orgs/(?P<org_slug>[a-z0-9-]+)/invitations", views.InvitationViewSet, basename="invitation")
router.register(r"orgs/(?P<org_slug>[a-z0-9-]+)/tokens", views.TokenViewSet, basename="token")
router.register(r"orgs/(?P<org_slug>[a-z0-9-]+)/audit", views.AuditEventViewSet, basename="audit")
router.register(r"orgs/(?P<org_slug>[a-z0-9-]+)/notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [
    path("", views.ApiRootView.as_view(), name="api-root"),
    path("auth/token/", views.AuthTokenView.as_view(), name="auth-token"),
    path("me", views.MeView.as_view(), name="me"),
    path("me/", views.MeSlashView.as_view()),
    path("orgs/<slug:org_slug>/security/", OrgSecurityView.as_view(), name="org-security"),  # login hardening
    *router.urls,
]
