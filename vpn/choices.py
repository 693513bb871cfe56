"""Choice sets of the VPN app (NetBox style: constants for code, labels for pages and the API)."""

from django.db import models


class VpnStatusChoices(models.TextChoices):
    PENDING = "pending", "Pending"
    PROVISIONING = "provisioning", "Provisioning"
    ACTIVE = "active", "Active"
    TUNNEL_DOWN = "tunnel_down", "Tunnel down"
    ERROR = "error", "Error"
    DESTROYING = "destroying", "Destroying"
    DESTROYED = "destroyed", "Destroyed"


#: Statuses whose tunnels exist in the cloud: health checks and the private-network registry use them.
UP_STATUSES = frozenset({VpnStatusChoices.ACTIVE, VpnStatusChoices.TUNNEL_DOWN})
#: Hours in a month, as AWS prices it.
HOURS_PER_MONTH = 730
