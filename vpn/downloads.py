"""Router configuration downloads: the one place a tunnel's pre-shared key leaves the database.

The text itself comes from `vpn.router_configs` (pure Python renderers, one per vendor); this module
checks the policy, builds the renderer's input from the VPN (keys decrypted here, never logged), and
records the download in the audit trail with the vendor only, never the keys.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.policy import Action, check
from core import masking

from . import router_configs
from .models import VpnConnection
from .provisioning import load_psks

__all__ = ["RouterConfig", "do_download_router_config", "vendor_choices"]


class RouterConfig:
    """A rendered configuration: its text, file name and content type (the view makes the attachment)."""

    def __init__(self, vendor: Any, content: str) -> None:
        self.vendor = vendor
        self.content = content

    @property
    def filename(self) -> str:
        return self.vendor.filename

    @property
    def content_type(self) -> str:
        return self.vendor.content_type


def vendor_choices() -> list[tuple[str, str]]:
    return [(code, vendor.label) for code, vendor in router_configs.VENDORS.items()]


def build_input(vpn: VpnConnection) -> Any:
    """The renderer's input: both tunnels with their keys, the on-prem subnet and the platform's VPC."""
    psks = load_psks(vpn)
    tunnels = (
        router_configs.Tunnel(outside_ip=vpn.tunnel1_outside_ip, inside_cidr=vpn.tunnel1_inside_cidr, psk=psks[0]),
        router_configs.Tunnel(outside_ip=vpn.tunnel2_outside_ip, inside_cidr=vpn.tunnel2_inside_cidr, psk=psks[1]),
    )
    return router_configs.RouterConfigInput(
        name=vpn.slug,
        customer_public_ip=vpn.public_ip,
        onprem_subnet=vpn.onprem_subnet,
        vpc_cidr=vpn.vpc_cidr,
        tunnels=tunnels,
    )


@transaction.atomic(durable=True)
def do_download_router_config(vpn: VpnConnection, *, actor: Any, vendor: str) -> RouterConfig:
    """Render the configuration for `vendor` (provisioners and admins), audited without the keys."""
    check(actor, Action.DOWNLOAD_ROUTER_CONFIG, vpn)
    if vendor not in router_configs.VENDORS:
        allowed = ", ".join(router_configs.VENDORS)
        raise ValidationError({"vendor": f"Unknown router vendor '{str(vendor)[:32]}'. Choose one of: {allowed}."})
    if not vpn.psk_envelope or not vpn.tunnel1_outside_ip:
        raise ValidationError({"non_field_errors": "The VPN is not provisioned yet: there is no tunnel to configure."})
    spec = router_configs.VENDORS[vendor]
    data = build_input(vpn)
    # Should anything log while rendering (a renderer's error, a warning), the keys come out masked.
    with masking.registered([t.psk for t in data.tunnels]):
        content = router_configs.render(vendor, data)
    record_event(
        org=vpn.org,
        action=AuditAction.VPN_ROUTER_CONFIG_DOWNLOADED,
        actor=actor,
        target=vpn,
        details={"vendor": vendor, "filename": spec.filename},
    )
    return RouterConfig(spec, content)
