"""How the VPN app plugs into `connections` (which never imports it): registered from `VpnConfig.ready`.

* private networks: an *active* VPN opens its on-prem subnet to the connections that use it — the only
  way a private on-prem address becomes reachable for their tests and runs;
* connection cards: the VPN status badge of each on-prem connection (one query per page of cards);
* connection page: a VPN panel (status, cost, Provision VPN);
* connection test: the on-prem connection's Test says how the VPN's tunnels are;
* deletion preview: deleting an on-prem connection keeps its VPN, and says so.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from accounts.policy import Action, can
from connections.extensions import (
    Badge,
    Panel,
    register_card_badges,
    register_check_note,
    register_detail_panel,
)
from connections.models import Connection
from connections.networks import register_private_networks
from connections.services import DependentGroup, register_deletion_dependent

from .choices import VpnStatusChoices
from .models import VpnConnection, estimated_monthly_cost
from .provisioning import describe_health
from .services import ON_PREM, vpn_for_connection

__all__ = ["active_vpn_networks", "vpn_badges", "vpn_check_note", "vpn_dependent", "vpn_panel"]


def _pair(connection: Connection) -> tuple[str, str] | None:
    if connection.category != ON_PREM:
        return None
    subnet, ip = connection.config.get("subnet"), connection.config.get("public_ip")
    return (subnet, ip) if subnet and ip else None


@register_private_networks
def active_vpn_networks(connection: Connection) -> list[str]:
    pair = _pair(connection)
    if pair is None:
        return []
    active = VpnConnection.objects.filter(
        org_id=connection.org_id, onprem_subnet=pair[0], public_ip=pair[1], status=VpnStatusChoices.ACTIVE
    ).exists()
    return [pair[0]] if active else []


@register_card_badges
def vpn_badges(connections: list[Connection]) -> dict[Any, list[Badge]]:
    pairs = {c.pk: pair for c in connections if (pair := _pair(c)) is not None}
    if not pairs:
        return {}
    org_ids = {c.org_id for c in connections}
    vpns = {
        (vpn.onprem_subnet, vpn.public_ip): vpn
        for vpn in VpnConnection.objects.filter(
            org_id__in=org_ids, onprem_subnet__in={p[0] for p in pairs.values()}
        ).select_related("org")
    }
    out: dict[Any, list[Badge]] = {}
    for pk, pair in pairs.items():
        vpn = vpns.get(pair)
        if vpn is None:
            out[pk] = [Badge("VPN: none", "vpn-none", "No VPN has been provisioned for this network yet.")]
        else:
            url = reverse("vpn_detail", kwargs={"org_slug": vpn.org.slug, "pk": vpn.pk})
            out[pk] = [Badge(f"VPN: {vpn.get_status_display()}", f"vpn-{vpn.status}", vpn.status_detail[:200], url)]
    return out


@register_detail_panel
def vpn_panel(connection: Connection, actor: Any) -> Panel | None:
    if _pair(connection) is None:
        return None
    vpn = vpn_for_connection(connection)
    context = {
        "vpn": vpn,
        "connection": connection,
        "monthly_cost": estimated_monthly_cost(),
        "may_manage": can(actor, Action.MANAGE_VPN, connection.org),
    }
    return Panel("vpn/_connection_panel.html", context)


@register_deletion_dependent
def vpn_dependent(connection: Connection) -> DependentGroup:
    """Deleting an on-prem connection keeps its VPN (other connections may share it): the preview says so."""
    vpn = vpn_for_connection(connection)
    items = [f"{vpn.name} ({vpn.get_status_display().lower()}): kept; destroy it on its page"] if vpn else []
    return DependentGroup("vpn", "Site-to-site VPN", False, items, len(items))


@register_check_note
def vpn_check_note(connection: Connection) -> str | None:
    pair = _pair(connection)
    if pair is None:
        return None
    vpn = vpn_for_connection(connection)
    if vpn is None or vpn.status in (VpnStatusChoices.PENDING, VpnStatusChoices.DESTROYED):
        return f"VPN: none is provisioned for {pair[0]} via {pair[1]}; provision it from the connection's page."
    if vpn.health.get("tunnels"):
        return f"VPN {vpn.get_status_display().lower()}: {describe_health(vpn.health)}"
    return f"VPN {vpn.get_status_display().lower()}."
