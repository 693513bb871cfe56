"""Proxmox VE on premises: an API token, reached through the site-to-site VPN."""

from __future__ import annotations

from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, OnPremProvider, ProviderValidationError, onprem_network_fields


class ProxmoxProvider(OnPremProvider):
    """Proxmox VE connection (Enterprise plan).

    ``token_id`` is public (it names the token, like an access key id); the token's UUID secret
    and the optional SSH password (used by Terraform for file uploads) are the secrets.
    """

    code = "proxmox"
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
