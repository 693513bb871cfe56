"""VPN pages under /o/<org_slug>/vpn/ (the API has its own routes)."""

from django.urls import path

from . import views

VPN = "o/<slug:org_slug>/vpn/<uuid:pk>/"

urlpatterns = [
    path("o/<slug:org_slug>/vpn/", views.VpnListView.as_view(), name="vpn_list"),
    path(VPN, views.VpnDetailView.as_view(), name="vpn_detail"),
    path(f"{VPN}provision/", views.VpnProvisionView.as_view(), name="vpn_provision"),
    path(f"{VPN}destroy/", views.VpnDestroyView.as_view(), name="vpn_destroy"),
    path(f"{VPN}health-check/", views.VpnHealthCheckView.as_view(), name="vpn_health_check"),
    path(f"{VPN}router-config/<slug:vendor>/", views.RouterConfigDownloadView.as_view(), name="vpn_router_config"),
    path(
        "o/<slug:org_slug>/vpn/for/<slug:connection_name>/provision/",
        views.ConnectionVpnProvisionView.as_view(),
        name="vpn_provision_for_connection",
    ),
]
