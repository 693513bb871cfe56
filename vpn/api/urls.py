"""VPN API routes under /api/v1/."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register(r"orgs/(?P<org_slug>[a-z0-9-]+)/vpn", views.VpnViewSet, basename="vpn")

urlpatterns = router.urls
