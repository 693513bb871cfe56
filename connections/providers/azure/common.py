"""What the Azure provider's connection test, materialization and role validation share."""

from __future__ import annotations

from ..config import setting

#: The audience Microsoft Entra ID requires in a federated credential's assertion (its documented default).
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"


def ca_file() -> str | None:
    """A CA file for the Entra ID authority and ARM (`AZURE_CA_BUNDLE`: a private CA, or a test fake's)."""
    return setting("AZURE_CA_BUNDLE") or None
