"""Demo data for `manage.py seed_demo`: a Proxmox connection in the Enterprise demo organization, on a
network whose VPN a provisioner can provision (against moto: see the README's VPN tour) and destroy."""

from __future__ import annotations

from typing import Any

from connections.models import Connection
from connections.services import do_create_connection

DEMO_CONNECTION = "proxmox-lab"
DEMO_CONFIG = {
    "api_endpoint": "https://192.168.50.10:8006",
    "node": "pve",
    "subnet": "192.168.50.0/24",
    "public_ip": "81.2.69.160",
    "router_vendor": "pfsense",
    "token_id": "terraform@pve!runner",
}
# Not a real token: the demo hypervisor does not exist, so its Test fails with a clear reason.
DEMO_SECRETS = {"token": "00000000-0000-4000-8000-000000000000"}


def seed_demo(org: Any, admin: Any) -> str:
    """Create the demo on-prem connection once; returns what it did."""
    if Connection.objects.filter(org=org, name=DEMO_CONNECTION).exists():
        return f"On-prem connection '{DEMO_CONNECTION}' exists."
    do_create_connection(
        org, actor=admin, name=DEMO_CONNECTION, provider="proxmox", auth_method="api_token",
        config=dict(DEMO_CONFIG), secrets=dict(DEMO_SECRETS), environments=["development"],
        description="Demo Proxmox node behind a site-to-site VPN (provision it from the VPN panel).",
    )  # fmt: skip
    return f"On-prem connection '{DEMO_CONNECTION}' created (subnet {DEMO_CONFIG['subnet']})."
