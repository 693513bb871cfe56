"""The External ID and ready-to-paste trust policy of a connection, for the page and the API.

Providers that generate an External ID (AWS assume role) may define `trust_policy(account,
external_id)` and `platform_account_id(configured)` in their module; nothing here names a provider.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings

from .models import Connection

logger = logging.getLogger(__name__)

UNKNOWN_ACCOUNT = (
    "The platform's own AWS account ID is not known (set PLATFORM_AWS_ACCOUNT_ID), "
    "so the trust policy cannot be shown yet."
)


def trust_policy_for(connection: Connection) -> dict[str, Any] | None:
    """{"external_id", "platform_account_id", "policy" (dict or None), "error"}; None without External ID."""
    if not connection.external_id:
        return None
    result: dict[str, Any] = {
        "external_id": connection.external_id,
        "platform_account_id": "",
        "policy": None,
        "error": "",
    }
    module = sys.modules.get(type(connection.provider_spec).__module__)
    if not (hasattr(module, "trust_policy") and hasattr(module, "platform_account_id")):
        return result
    try:
        account = module.platform_account_id(getattr(settings, "PLATFORM_AWS_ACCOUNT_ID", "") or None)
        result["platform_account_id"] = account
        result["policy"] = module.trust_policy(account, connection.external_id)
    except Exception as exc:  # no platform identity configured or reachable: say so, keep the page
        logger.warning("Platform account for the trust policy is unknown: %s", exc.__class__.__name__)
        result["error"] = UNKNOWN_ACCOUNT
    return result
