"""Page routes of the connections app, under /o/<org_slug>/ (server-rendered; the API has its own urls).

Names use underscores (`connection_list`) like the accounts pages, so they never collide with the API
router's dashed names. The routes of one connection come before `new/<provider>/`, so a connection
that happens to be called "new" still has its edit, rotate, ... pages.
"""

from django.urls import path

from . import views

CONNECTION = "o/<slug:org_slug>/connections/<slug:connection_name>/"

urlpatterns = [
    path("assets/providers.css", views.provider_styles, name="provider_styles"),
    path("o/<slug:org_slug>/connections/", views.ConnectionListView.as_view(), name="connection_list"),
    path(CONNECTION, views.ConnectionDetailView.as_view(), name="connection_detail"),
    path(f"{CONNECTION}edit/", views.ConnectionEditView.as_view(), name="connection_edit"),
    path(f"{CONNECTION}rotate/", views.ConnectionRotateView.as_view(), name="connection_rotate"),
    path(f"{CONNECTION}oauth/", views.ConnectionOAuthView.as_view(), name="connection_oauth"),
    path("connections/oauth/callback/", views.OAuthCallbackView.as_view(), name="connection_oauth_callback"),
    path(
        f"{CONNECTION}authorizations/",
        views.ConnectionAuthorizationsView.as_view(),
        name="connection_authorizations",
    ),
    path(f"{CONNECTION}default/", views.ConnectionSetDefaultView.as_view(), name="connection_set_default"),
    path(f"{CONNECTION}usage/", views.ConnectionUsageView.as_view(), name="connection_usage"),
    path(f"{CONNECTION}test/", views.ConnectionTestView.as_view(), name="connection_test"),
    path(f"{CONNECTION}status/", views.ConnectionSetActiveView.as_view(), name="connection_set_active"),
    path(f"{CONNECTION}delete/", views.ConnectionDeleteView.as_view(), name="connection_delete"),
    path(f"{CONNECTION}roles/new/", views.ConnectionRoleAddView.as_view(), name="connection_role_add"),
    path(
        f"{CONNECTION}roles/<int:pk>/validate/",
        views.ConnectionRoleValidateView.as_view(),
        name="connection_role_validate",
    ),
    path(
        f"{CONNECTION}roles/<int:pk>/delete/", views.ConnectionRoleDeleteView.as_view(), name="connection_role_delete"
    ),
    path(
        "o/<slug:org_slug>/connections/new/<slug:provider>/",
        views.ConnectionCreateView.as_view(),
        name="connection_create",
    ),
    path(
        "o/<slug:org_slug>/environments/<slug:env_slug>/selection/",
        views.EnvironmentSelectionView.as_view(),
        name="environment_selection",
    ),
]
