"""The platform's own AWS identity, and the trust policy customers put on their roles for it.

`platform_account_id()` is the one place that reads the `PLATFORM_AWS_ACCOUNT_ID` setting.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ..config import setting
from . import clients

_lock = threading.Lock()
_from_sts: str | None = None


def platform_account_id() -> str:
    """The AWS account the platform runs as: the `PLATFORM_AWS_ACCOUNT_ID` setting, else STS
    GetCallerIdentity of the default credential chain.

    The setting is read on every call (so an override takes effect at once); the STS answer is cached for
    the life of the process, since the platform's own account does not move. Raises botocore's error when
    neither is available: without an account no trust policy can be shown or checked.
    """
    global _from_sts
    configured = setting("PLATFORM_AWS_ACCOUNT_ID")
    if configured:
        return str(configured)
    with _lock:
        if _from_sts is None:
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            _from_sts = str(clients.client("sts", region=region).get_caller_identity()["Account"])
        return _from_sts


def trust_policy(platform_account_id: str, external_id: str, *, partition: str = "aws") -> dict[str, Any]:
    """The trust policy a customer pastes on their role so the platform (and only with this ExternalId) can assume it.

    The principal is the platform's account root, so the platform can rotate its own runner roles
    without customers editing their policies; the ExternalId condition is what stops another tenant of
    the platform from pointing their connection at this role (the confused-deputy problem).
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{platform_account_id}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def oidc_provider_path(issuer: str) -> str:
    """The issuer as IAM names an OIDC provider: host and path, without the scheme (also the condition key prefix)."""
    return issuer.split("://", 1)[-1].rstrip("/")


def web_identity_trust_policy(
    account_id: str, issuer: str, subject: str, audience: str, *, partition: str = "aws"
) -> dict[str, Any]:
    """The trust policy of a role the platform assumes with its OIDC tokens (AssumeRoleWithWebIdentity).

    Both the audience and the subject are pinned: the audience says the token was minted for STS, the
    subject that it was minted for this very connection, so no other connection (or tenant) of the
    platform can use the role, even though every token comes from the same issuer.
    """
    path = oidc_provider_path(issuer)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:{partition}:iam::{account_id}:oidc-provider/{path}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{path}:aud": audience, f"{path}:sub": subject}},
            }
        ],
    }
