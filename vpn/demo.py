"""Demo data for `manage.py seed_demo`: an on-prem connection in the Enterprise demo organization, on a
network whose VPN a provisioner can provision (against moto: see the README's VPN tour) and destroy.

The provider and its values come from the first on-prem provider that declares a `DemoConnection`, so
nothing here is provider-specific."""

from __future__ import annotations

from typing import Any

from connections.models import Connection
from connections.providers import REGISTRY
from connections.services import do_create_connection

DEMO_PROVIDER = next(p for p in REGISTRY.values() if p.category == "on_prem" and p.demo_connection is not None)
DEMO = DEMO_PROVIDER.demo_connection
DEMO_CONNECTION = DEMO.name
DEMO_CONFIG = DEMO.config


def seed_demo(org: Any, admin: Any) -> str:
    """Create the demo on-prem connection once; returns what it did."""
    if Connection.objects.filter(org=org, name=DEMO_CONNECTION).exists():
        return f"On-prem connection '{DEMO_CONNECTION}' exists."
    do_create_connection(
        org, actor=admin, name=DEMO_CONNECTION, provider=DEMO_PROVIDER.code, auth_method=DEMO.auth_method,
        config=dict(DEMO.config), secrets=dict(DEMO.secrets), environments=["development"],
        description=DEMO.description,
    )  # fmt: skip
    return f"On-prem connection '{DEMO_CONNECTION}' created (subnet {DEMO_CONFIG['subnet']})."
