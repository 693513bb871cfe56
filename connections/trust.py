"""The External ID and ready-to-paste trust setup of a connection, for the page and the API.

Providers that generate an External ID say what the customer puts on their side (`Provider.trust_setup`);
federated methods say how the cloud must trust the platform's OIDC issuer (`Provider.federation_setup`),
from the issuer URL and the subject the platform's tokens carry. Nothing here names a provider.
"""

from __future__ import annotations

import logging
from typing import Any

from identity.conf import issuer_url
from identity.keys import subject_for

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


ISSUER_NOT_HTTPS = (
    "The platform's OIDC issuer ({issuer}) is not an https URL: clouds fetch its discovery document and keys "
    "over https from the internet, so set OIDC_ISSUER_URL to the platform's public https address first."
)


def federation_setup_for(connection: Connection) -> dict[str, Any] | None:
    """{"issuer", "subject", "title", "values", "commands", "documents", "notes", "warning"}; None unless federated.

    The values derive from `OIDC_ISSUER_URL` and the connection's token subject (`identity.keys.subject_for`),
    the very ones its tokens carry, so what the customer enters always matches what the platform sends.
    """
    issuer = issuer_url()
    subject = subject_for(connection.org.slug, connection.name)
    setup = connection.provider_spec.federation_setup(
        connection.auth_method, connection.config, issuer=issuer, subject=subject
    )
    if setup is None:
        return None
    warning = "" if issuer.startswith("https://") else ISSUER_NOT_HTTPS.format(issuer=issuer)
    return {"issuer": issuer, "subject": subject, **setup, "warning": warning}
