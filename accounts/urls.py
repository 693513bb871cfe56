"""Page routes (server-rendered): sign-in and password reset, then everything under /o/<org_slug>/.

Page route names use underscores (`environment_list`) so they never collide with the API router's
dashed names (`environment-list`), which live in the same (un-namespaced) URL space.
"""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .authn import views as authn_views

auth_patterns = [
    path("login/", authn_views.LoginView.as_view(), name="login"),
    path("login/verify/", authn_views.LoginVerifyView.as_view(), name="login_verify"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password-reset/", authn_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        authn_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/complete/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("password-change/", authn_views.PasswordChangeView.as_view(), name="password_change"),
    path("password-change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("invitations/<str:token>/", views.InvitationAcceptView.as_view(), name="invitation_accept"),
    path("account/two-factor/", authn_views.TwoFactorView.as_view(), name="two_factor"),
    path("account/two-factor/setup/", authn_views.TwoFactorSetupView.as_view(), name="two_factor_setup"),
    path("account/two-factor/disable/", authn_views.TwoFactorDisableView.as_view(), name="two_factor_disable"),
]

org_patterns = [
    path("o/<slug:org_slug>/", views.OrgHomeView.as_view(), name="org_home"),
    path("o/<slug:org_slug>/environments/", views.EnvironmentListView.as_view(), name="environment_list"),
    path("o/<slug:org_slug>/environments/new/", views.EnvironmentCreateView.as_view(), name="environment_create"),
    path(
        "o/<slug:org_slug>/environments/<slug:env_slug>/edit/",
        views.EnvironmentEditView.as_view(),
        name="environment_edit",
    ),
    path(
        "o/<slug:org_slug>/environments/<slug:env_slug>/delete/",
        views.EnvironmentDeleteView.as_view(),
        name="environment_delete",
    ),
    path("o/<slug:org_slug>/members/", views.MemberListView.as_view(), name="member_list"),
    path("o/<slug:org_slug>/members/add/", views.MemberAddView.as_view(), name="member_add"),
    path("o/<slug:org_slug>/members/<int:pk>/role/", views.MemberRoleView.as_view(), name="member_role"),
    path("o/<slug:org_slug>/members/<int:pk>/remove/", views.MemberRemoveView.as_view(), name="member_remove"),
    path(
        "o/<slug:org_slug>/invitations/<int:pk>/resend/",
        views.InvitationResendView.as_view(),
        name="invitation_resend",
    ),
    path(
        "o/<slug:org_slug>/invitations/<int:pk>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
    path("o/<slug:org_slug>/tokens/", views.TokenListView.as_view(), name="token_list"),
    path("o/<slug:org_slug>/tokens/new/", views.TokenCreateView.as_view(), name="token_create"),
    path("o/<slug:org_slug>/tokens/<int:pk>/revoke/", views.TokenRevokeView.as_view(), name="token_revoke"),
    path("o/<slug:org_slug>/audit/", views.AuditListView.as_view(), name="audit_list"),
    path("o/<slug:org_slug>/security/", authn_views.OrgSecurityView.as_view(), name="org_security"),
    path(
        "o/<slug:org_slug>/alerts/<int:pk>/dismiss/",
        views.NotificationDismissView.as_view(),
        name="notification_dismiss",
    ),
]

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    *auth_patterns,
    *org_patterns,
]
