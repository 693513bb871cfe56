"""VMware vCenter on premises: a user name and password, reached through the site-to-site VPN."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, OnPremProvider, b64, onprem_network_fields
from .contract import CheckContext, CheckFailed, CheckResult
from .httpcheck import CheckClient, json_or_empty, text_field


def _vapi_message(body: Any) -> str:
    """The first ``default_message`` of a vSphere Automation API error (``{"error_type", "messages"}``)."""
    messages = body.get("messages") if isinstance(body, Mapping) else None
    first = messages[0] if isinstance(messages, list) and messages else {}
    return text_field(first, "default_message") or text_field(body, "error_type")


class VCenterProvider(OnPremProvider):
    """vCenter connection (Enterprise plan); TLS is always verified (``VSPHERE_ALLOW_UNVERIFIED_SSL=false``)."""

    code = "vcenter"
    terraform_prefixes = ("vsphere_",)
    resource_kinds = ("vCenter", "vSphere", "vSphere VM")
    destination_fields = ("host", "port")
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

    def check(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: CheckContext
    ) -> CheckResult:
        """``POST /api/session`` with basic auth (vSphere Automation API), then ``DELETE`` that session.

        Creating a session is the documented way to prove a user name and password; the session id is
        itself a credential, so it is deleted right away (vCenter limits concurrent sessions) and never
        returned. Like Proxmox, the host is reached over the VPN: only networks the platform opened
        (``ctx.allowed_networks``) are reachable, never the subnet a member typed.
        """
        host, port = str(config["host"]), int(config.get("port") or 443)
        base = f"https://{f'[{host}]' if ':' in host else host}:{port}"
        basic = b64(f"{config['username']}:{secrets['password']}")
        client = CheckClient(
            ctx,
            "vCenter",
            secrets={**secrets, "basic": basic},
        )
        response = client.call("POST", f"{base}/api/session", headers={"Authorization": f"Basic {basic}"})
        body = json_or_empty(response)
        if response.status in (401, 403):
            raise client.failed(_vapi_message(body) or "Authentication required.")
        if response.status == 404:
            raise client.failed("This vCenter has no /api/session endpoint (it needs vSphere 7.0 Update 2 or later).")
        if response.status not in (200, 201):
            raise client.unexpected(response, _vapi_message(body))
        if not isinstance(body, str) or not body:
            raise client.failed("vCenter answered without a session id.")
        closed = self._close_session(client, base, body)
        return client.result(
            f"Opened a vSphere API session on {host}:{port} as {config['username']}.",
            {"host": host, "port": port, "username": config["username"], "session_closed": closed},
        )

    @staticmethod
    def _close_session(client: CheckClient, base: str, session_id: str) -> bool:
        """Best effort: the credentials are proven already, and an unclosed session expires on its own."""
        try:
            response = client.call("DELETE", f"{base}/api/session", headers={"vmware-api-session-id": session_id})
        except CheckFailed:
            return False
        return response.status in (200, 204)
