"""What the platform asks of a provider, and what it hands it: the connection-test contract and the
connection-role contract.

**Connection test.** Each provider implements `Provider.check(auth_method, config, secrets, ctx) ->
CheckResult` (the "test" column of DESIGN.md). It receives everything about the connection through
`CheckContext`, so a provider never resolves another connection itself, and every endpoint can point
at loopback in tests: platform endpoints are *declared by each provider* (`Provider.endpoints`) and
overridden per name by the `PROVIDER_ENDPOINTS` setting (environment `PROVIDER_ENDPOINT_<NAME>`);
SDK calls honour their own endpoint variables (boto3: `AWS_ENDPOINT_URL`); user-supplied URLs
(self-hosted Git, Kubernetes, Proxmox, vCenter) go through the SSRF guard via `ctx.request`.

A failed check raises `CheckFailed(reason)` with the provider's own words; the caller records
`Authentication failed: <reason>` (DESIGN.md) with the duration, and never a secret (the reason is
masked before it is stored).

**Connection roles.** A provider whose connections take roles (identities runs work as) sets
`Provider.role_support` to a `RoleSupport`: which fields describe a role, how they are cleaned, and
how a role is validated against the cloud (`RoleRequest` in, `RoleOutcome` out). A provider also
judges what it read for least privilege (`RoleOutcome.advice`: `Advice` findings coded by
`ADVICE_CODES`), since only it knows what a wildcard or an administrator role looks like there.
Statuses, drift, storage, audit and tasks stay generic in `connections.role_validation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from core.netguard import guarded_request

from .base import declared_endpoints
from .config import setting

__all__ = [
    "ADVICE_CODES",
    "Advice",
    "CheckContext",
    "CheckFailed",
    "CheckResult",
    "ReferencedCredentials",
    "RoleField",
    "RoleOutcome",
    "RoleRequest",
    "RoleStatus",
    "RoleSupport",
    "SetupUnavailable",
    "endpoint",
]


def endpoint(name: str) -> str:
    """The base URL of a platform endpoint a provider declared: the `PROVIDER_ENDPOINTS` setting, else
    the provider's declared default (the real public endpoint)."""
    configured = setting("PROVIDER_ENDPOINTS").get(name)
    if configured:
        return str(configured).rstrip("/")
    defaults = declared_endpoints()
    if name not in defaults:
        raise KeyError(f"No provider declares the endpoint {name!r}.")
    return defaults[name].rstrip("/")


class CheckFailed(Exception):
    """The provider rejected the credentials or the check could not complete; `reason` is shown."""

    def __init__(self, reason: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details or {}


class SetupUnavailable(Exception):
    """What a user must set up on their side (a trust policy, say) cannot be shown yet; the message says why."""


@dataclass
class CheckResult:
    """A passed check: a short human message (e.g. "Authenticated as arn:…") and facts."""

    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReferencedCredentials:
    """The cloud connection an ECR/GCR/state-backend connection uses, already decrypted for this check."""

    provider: str
    auth_method: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    external_id: str = ""


@dataclass
class CheckContext:
    """Everything a provider check may use. Built by the test service; providers treat it as read-only."""

    org_slug: str
    connection_name: str
    external_id: str = ""
    # The connection's first connection role, when it has one (what an assume-role test assumes).
    role_arn: str | None = None
    ref: ReferencedCredentials | None = None
    allowed_networks: tuple[str, ...] = ()
    timeout: float = 10.0
    # Signs a short-lived OIDC client assertion with the platform's issuer (federated methods).
    sign_assertion: Callable[[str], str] | None = None
    # Extra trusted CA certificates (PEM) for self-hosted endpoints with a company CA; added to certifi's.
    extra_ca_data: str = ""

    def endpoint(self, name: str) -> str:
        return endpoint(name)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        """An HTTP call through the SSRF guard (pinned resolution, bounded time and size)."""
        allowed: Iterable[str] = (*self.allowed_networks, *kwargs.pop("allowed_networks", ()))
        kwargs.setdefault("timeout", self.timeout)
        return guarded_request(method, url, allowed_networks=tuple(allowed), **kwargs)


# --------------------------------------------------------------------------------------------------
# Connection roles
# --------------------------------------------------------------------------------------------------


class RoleStatus(StrEnum):
    """A role's validation status (`connections.choices.RoleStatusChoices` has the same values, with labels)."""

    PENDING = "pending"
    VALIDATING = "validating"
    VALID = "valid"
    INVALID = "invalid"
    DRIFT = "drift"
    EXPIRED = "expired"
    ERROR = "error"


@dataclass(frozen=True)
class RoleField:
    """One value that describes a role, stored in the `ConnectionRole` column of the same name."""

    name: str
    label: str
    help_text: str = ""
    kind: str = "string"  # "string" (required) or "integer" (optional, `initial` when left out)
    initial: Any = None


@dataclass(frozen=True)
class Advice:
    """One least-privilege finding about a role (seed 000's best practices): it does not make the role
    unusable, it tells the people who own it what to narrow. `code` is one of `ADVICE_CODES`."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


#: Wildcard actions (`*`, `service:*`, NotAction), all resources (`*`), a known administrator policy or role.
ADVICE_CODES = ("wildcard_action", "wildcard_resource", "admin_policy")


@dataclass
class RoleOutcome:
    """What one validation found. `None` lists mean "not determined this time": the stored ones stay,
    so a network error does not wipe what the role was last seen to have. `advice` holds the
    least-privilege findings (`Advice`) when the role's policies were read."""

    status: str
    error: str = ""
    granted: list[str] | None = None
    denied: list[str] | None = None
    missing: list[str] | None = None
    detected: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    transient: bool = False
    advice: list[Advice] | None = None


@dataclass
class RoleRequest:
    """Everything a provider's role validation may use; built by `connections.role_validation`.

    `role` holds the role's fields (`RoleSupport.fields`) plus `id`; `credentials(purpose)` opens the
    connection's own credentials through `use_credentials` (audited, masked) as a context manager
    yielding an object with `.config` and `.secrets`.
    """

    org_slug: str
    connection_name: str
    auth_method: str
    config: dict[str, Any]
    external_id: str
    role: dict[str, Any]
    detected: list[str]
    credentials: Callable[[], AbstractContextManager[Any]]
    sign_assertion: Callable[[str], str] | None
    timeout: float


class RoleSupport:
    """A provider's connection roles: their fields, their validation rules, and the check against the cloud."""

    #: The values that describe one role, in form order (`name` is generic and not listed).
    fields: ClassVar[tuple[RoleField, ...]] = ()
    #: The field that identifies a role within its connection (no two roles share it).
    identity_field: ClassVar[str] = ""
    #: What the role is called in messages ("role", "service principal").
    noun: ClassVar[str] = "role"

    def applies_to(self, auth_method: str) -> bool:
        """Whether connections using `auth_method` take roles (else the connection is its own identity,
        e.g. an AWS web identity connection assumes its own role_arn): projects need a role only then."""
        return True

    def clean(self, auth_method: str, config: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """The role's fields, cleaned; raise `ProviderValidationError` keyed by field (or a non-field error)."""
        raise NotImplementedError

    def validate(self, request: RoleRequest) -> RoleOutcome:
        """Ask the cloud what the role can do. Raise for failures the generic code classifies (transient or not)."""
        raise NotImplementedError

    def is_transient(self, exc: BaseException) -> bool:
        """Whether an exception raised by `validate` is worth a retry (throttling, 5xx, network)."""
        return False

    def describe(self, exc: BaseException) -> str | None:
        """A one-line reason for an exception raised by `validate`, in the cloud's own words; None: generic."""
        return None
