"""Proxmox VE on premises: an API token, reached through the site-to-site VPN."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import validators as v
from .base import (
    AuthMethod,
    DemoConnection,
    Field,
    Materialized,
    OnPremProvider,
    ProviderValidationError,
    onprem_network_fields,
)
from .contract import CheckContext, CheckResult
from .httpcheck import CheckClient, json_or_empty, text_field


class ProxmoxProvider(OnPremProvider):
    """Proxmox VE connection (Enterprise plan).

    ``token_id`` is public (it names the token, like an access key id); the token's UUID secret
    and the optional SSH password (used by Terraform for file uploads) are the secrets.
    """

    code = "proxmox"
    terraform_prefixes = ("proxmox_",)
    resource_kinds = ("Proxmox", "Proxmox VM", "Proxmox container")
    # Not a real node or token: the demo hypervisor does not exist, so its Test fails with a clear reason.
    demo_connection = DemoConnection(
        name="proxmox-lab",
        auth_method="api_token",
        config={
            "api_endpoint": "https://192.168.50.10:8006",
            "node": "pve",
            "subnet": "192.168.50.0/24",
            "public_ip": "81.2.69.160",
            "router_vendor": "pfsense",
            "token_id": "terraform@pve!runner",
        },
        secrets={"token": "00000000-0000-4000-8000-000000000000"},
        description="Demo Proxmox node behind a site-to-site VPN (provision it from the VPN panel).",
    )
    destination_fields = ("api_endpoint",)
    label = "Proxmox VE"
    category = "on_prem"
    description = "Proxmox VE clusters in your data centre, reached over a site-to-site VPN."
    icon = "PVE"
    color = "#e57000"
    test_description = "GET /api2/json/version over the VPN."
    host_field = "api_endpoint"
    host_label = "API endpoint"
    auth_methods = (
        AuthMethod("api_token", "API token", "A Proxmox API token (Datacenter > Permissions > API Tokens)."),
    )
    fields = (
        Field("api_endpoint", "API endpoint", "url", validators=(v.https_url,), placeholder="https://192.168.50.10:8006"),
        Field("node", "Node", "string", validators=(v.hostname_label,), placeholder="pve"),
        *onprem_network_fields(),
        Field("token_id", "Token ID", "string", validators=(v.proxmox_token_id,), placeholder="terraform@pve!runner"),
        Field("ssh_username", "SSH username", "string", required=False, validators=(v.single_line_name(64),),
              placeholder="root", help_text="For file operations (snippets, ISO uploads)."),
        Field("token", "Token secret", "string", secret=True, validators=(v.guid,),
              help_text="The UUID shown once when the token was created."),
        Field("ssh_password", "SSH password", "string", secret=True, required=False),
    )  # fmt: skip
    summary_fields = ("api_endpoint", "node", "subnet")

    def clean_extra(
        self, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], *, partial: bool = False
    ) -> None:
        """Endpoint inside the subnet (see OnPremProvider), and no SSH password without a user to use it."""
        errors = self.network_errors(config)
        if not partial and secrets.get("ssh_password") and not config.get("ssh_username"):
            errors["ssh_username"] = ["Required when an SSH password is set."]
        if errors:
            raise ProviderValidationError(errors)

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
        out.set_env("PROXMOX_VE_ENDPOINT", config["api_endpoint"])
        out.set_secret_env("PROXMOX_VE_API_TOKEN", f"{config['token_id']}={secrets['token']}")
        out.sensitive.add(secrets["token"])
        if config.get("ssh_username"):
            out.set_env("PROXMOX_VE_SSH_USERNAME", config["ssh_username"])
        if secrets.get("ssh_password"):
            out.set_secret_env("PROXMOX_VE_SSH_PASSWORD", secrets["ssh_password"])
        return out

    def check(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: CheckContext
    ) -> CheckResult:
        """``GET /api2/json/version`` with ``Authorization: PVEAPIToken=<token id>=<secret>``, over the VPN.

        The endpoint is a private address, which the SSRF guard refuses unless the platform opened it
        (``ctx.allowed_networks``: the subnet of the connection's active VPN); typing a subnet opens nothing.
        pveproxy explains a refusal only in the status line, so a 401 is described here.
        """
        token_id = config["token_id"]
        client = CheckClient(
            ctx,
            "Proxmox VE",
            secrets=secrets,
            headers={"Authorization": f"PVEAPIToken={token_id}={secrets['token']}"},
        )
        endpoint = str(config["api_endpoint"]).rstrip("/")
        response = client.call("GET", f"{endpoint}/api2/json/version")
        body = json_or_empty(response)
        if response.status == 401:
            raise client.failed(f"Proxmox VE refused API token '{token_id}' (HTTP 401 authentication failure).")
        if response.status != 200:
            raise client.unexpected(response, text_field(body, "message"))
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, Mapping):
            raise client.failed("Proxmox VE answered without version data.")
        version = text_field(data, "version")
        details = {"version": version, "release": text_field(data, "release"), "repoid": text_field(data, "repoid")}
        return client.result(f"Proxmox VE {version} at {endpoint} accepted API token '{token_id}'.", details)
