"""VMware vCenter on premises: a user name and password, reached through the site-to-site VPN."""

from __future__ import annotations

from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, OnPremProvider, onprem_network_fields


class VCenterProvider(OnPremProvider):
    """vCenter connection (Enterprise plan); TLS is always verified (``VSPHERE_ALLOW_UNVERIFIED_SSL=false``)."""

    code = "vcenter"
    label = "VMware vCenter"
    category = "on_prem"
    description = "VMware vCenter Server in your data centre, reached over a site-to-site VPN."
    icon = "VC"
    color = "#717074"
    test_description = "vSphere session create over the VPN."
    host_field = "host"
    host_label = "vCenter host"
    auth_methods = (AuthMethod("password", "User name and password", "A vCenter user dedicated to automation."),)
    fields = (
        Field("host", "vCenter host", "string", validators=(v.hostname_or_ip,), placeholder="vcenter.corp.example"),
        Field("port", "Port", "integer", default=443, min_value=1, max_value=65535, validators=(v.port,)),
        Field("datacenter", "Datacenter", "string", validators=(v.single_line_name(80),)),
        Field("cluster", "Cluster", "string", validators=(v.single_line_name(80),)),
        *onprem_network_fields(),
        Field("username", "User name", "string", validators=(v.single_line_name(256),),
              placeholder="terraform@vsphere.local"),
        Field("password", "Password", "string", secret=True),
    )  # fmt: skip
    summary_fields = ("host", "datacenter", "cluster")

    def _materialize(
        self,
        auth_method: str,
        config: dict[str, Any],
        secrets: dict[str, Any],
        *,
        ref: Materialized | None,
        ref_config: dict[str, Any],
    ) -> Materialized:
        out = Materialized()
        host, port = config["host"], int(config["port"])
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        out.set_env("VSPHERE_SERVER", host if port == 443 else f"{host}:{port}")
        out.set_env("VSPHERE_USER", config["username"])
        out.set_secret_env("VSPHERE_PASSWORD", secrets["password"])
        out.set_env("VSPHERE_ALLOW_UNVERIFIED_SSL", "false")
        return out
