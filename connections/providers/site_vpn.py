"""The site-to-site VPN backend the platform runs on, for the `vpn` app (which never names the cloud).

Today that is AWS Site-to-Site VPN in the platform's own account (`aws/vpn.py`, default boto3
credential chain; boto3 honours `AWS_ENDPOINT_URL`, which is how tests point it at moto). The types
are in `vpn_contract`; another backend would be chosen here.
"""

from __future__ import annotations

from .aws.vpn import TAG_KEY, SiteToSiteVpn
from .config import setting
from .vpn_contract import ProvisionResult, TunnelDetails, TunnelHealth, VpnBackend, VpnBackendError, VpnHealth

__all__ = [
    "TAG_KEY",
    "ProvisionResult",
    "TunnelDetails",
    "TunnelHealth",
    "VpnBackend",
    "VpnBackendError",
    "VpnHealth",
    "backend",
]


def backend(*, timeout: float = 10.0) -> VpnBackend:
    """The platform's VPN backend: region VPN_AWS_REGION, in VPC VPN_VPC_ID (or one it finds or creates
    with VPN_VPC_CIDR); each call may take `timeout` seconds."""
    return SiteToSiteVpn(
        region=setting("VPN_AWS_REGION"),
        vpc_id=setting("VPN_VPC_ID"),
        vpc_cidr=setting("VPN_VPC_CIDR"),
        timeout=timeout,
    )
