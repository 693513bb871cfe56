"""The site-to-site VPN backend the platform runs on, for the `vpn` app (which never names the cloud).

Today that is AWS Site-to-Site VPN in the platform's own account (`aws/vpn.py`, default boto3
credential chain; boto3 honours `AWS_ENDPOINT_URL`, which is how tests point it at moto). The types
are in `vpn_contract`; another backend would be chosen here.
"""

from __future__ import annotations

from .aws.vpn import TAG_KEY, SiteToSiteVpn
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


def backend(*, region: str, vpc_id: str = "", vpc_cidr: str = "", timeout: float = 10.0) -> VpnBackend:
    """The platform's VPN backend for `region` (in VPC `vpc_id`, or one it creates or finds with `vpc_cidr`)."""
    return SiteToSiteVpn(region=region, vpc_id=vpc_id, vpc_cidr=vpc_cidr, timeout=timeout)
