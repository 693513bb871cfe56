"""The External ID and ready-to-paste trust setup of a connection, for the page and the API.

Providers that generate an External ID say what the customer puts on their side (`Provider.trust_setup`);
nothing here names a provider.
"""

from __future__ import annotations

import logging
from typing import Any

from .models import Connection
from .providers.contract import SetupUnavailable

logger = logging.getLogger(__name__)


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
    try:
        setup = connection.provider_spec.trust_setup(connection.external_id)
    except SetupUnavailable as exc:
        cause = exc.__cause__.__class__.__name__
        logger.warning("Trust setup of connection %s is unavailable: %s", connection.pk, cause)
        result["error"] = str(exc)
        return result
    if setup:
        result.update(platform_account_id=setup["platform_account_id"], policy=setup["policy"])
    return result
