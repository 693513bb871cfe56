"""Azure connection roles: a service principal (client id + object id, no secret), validated through ARM.

The platform has no secret for the role's service principal, so the connection's own credentials
(through `use_credentials`, audited) get a management token, and the role assignments of the role's
principal on the connection's subscription are listed; their role definitions are the granted
permissions and are matched against detected operations. Deny assignments are not read, so
`denied_permissions` stays empty for Azure roles.

Least-privilege advice: Owner, Contributor and User Access Administrator assigned at the subscription
or wider (a management group, the tenant root) are flagged as administrator roles, and any other role
whose actions include a wildcard (`*`, `Microsoft.Compute/*`) as a wildcard action. Azure has no
resource wildcard: a role's reach is its assignment scope.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from azure.identity import ClientAssertionCredential, ClientSecretCredential

from core import masking
from core.netguard import guarded_request

from ..contract import Advice, RoleField, RoleOutcome, RoleRequest, RoleSupport, endpoint
from ..contract import RoleStatus as Status
from ..errors import ProviderValidationError
from .common import FEDERATED_AUDIENCE, ca_file

ROLE_API_VERSION = "2022-04-01"
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MAX_PAGES = 50
_ERROR_LIMIT = 4000


class ArmError(Exception):
    """Azure Resource Manager answered with an error status; the message is ARM's own."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Azure Resource Manager answered {status}: {message}")
        self.status = status


def _management_token(
    auth_method: str, config: dict[str, Any], secrets: dict[str, Any], signer: Callable[[str], str] | None
) -> str:
    """A management-plane token for the connection's service principal (secret or federated assertion)."""
    options: dict[str, Any] = {"authority": endpoint("azure_authority"), "disable_instance_discovery": True}
    if ca_file():
        options["connection_verify"] = ca_file()
    tenant, client_id = config["tenant_id"], config["client_id"]
    if auth_method == "client_secret":
        credential: Any = ClientSecretCredential(tenant, client_id, secrets["client_secret"], **options)
    else:
        assert signer is not None
        credential = ClientAssertionCredential(tenant, client_id, lambda: signer(FEDERATED_AUDIENCE), **options)
    try:
        return credential.get_token(f"{endpoint('azure_management')}/.default").token
    finally:
        credential.close()


class _Arm:
    """GETs against Azure Resource Manager through the SSRF guard (`nextLink` comes from the server)."""

    def __init__(self, token: str, timeout: float) -> None:
        self._token = token
        self._timeout = timeout
        self._ca_data: str | None = None
        if ca_file():
            with open(ca_file(), encoding="utf-8") as handle:
                self._ca_data = handle.read()

    def get(self, url: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        response = guarded_request("GET", url, headers=headers, timeout=self._timeout, ca_data=self._ca_data)
        if response.status != 200:
            try:
                message = str(response.json().get("error", {}).get("message") or "")
            except Exception:
                message = ""
            raise ArmError(response.status, masking.mask(message or response.text[:200]))
        return response.json()

    def role_assignments(self, subscription_id: str, principal_id: str) -> list[dict[str, Any]]:
        query = f"api-version={ROLE_API_VERSION}&$filter=" + quote(f"principalId eq '{principal_id}'")
        url = (
            f"{endpoint('azure_management')}/subscriptions/{subscription_id}"
            f"/providers/Microsoft.Authorization/roleAssignments?{query}"
        )
        items: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            page = self.get(url)
            items.extend(page.get("value") or [])
            url = page.get("nextLink") or ""
            if not url:
                return items
        raise RuntimeError(f"Role assignments span more than {_MAX_PAGES} pages.")

    def role_definition(self, definition_id: str) -> dict[str, Any]:
        return self.get(f"{endpoint('azure_management')}{definition_id}?api-version={ROLE_API_VERSION}")


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$", re.I)


def operation_matches(pattern: str, operation: str) -> bool:
    """Azure RBAC matching: case-insensitive, `*` matches any run of characters."""
    return bool(_pattern(pattern.strip()).match(operation.strip()))


def _allows(definitions: Iterable[dict[str, Any]], operation: str) -> bool:
    """Some permission block of an assigned role matches the operation and does not exclude it."""
    for definition in definitions:
        for block in (definition.get("properties") or {}).get("permissions") or []:
            allowed = [*(block.get("actions") or []), *(block.get("dataActions") or [])]
            excluded = [*(block.get("notActions") or []), *(block.get("notDataActions") or [])]
            if any(operation_matches(p, operation) for p in allowed) and not any(
                operation_matches(p, operation) for p in excluded
            ):
                return True
    return False


def _assignment_label(assignment: dict[str, Any], definition: dict[str, Any], subscription_id: str) -> str:
    """The role's name, with the scope when it is narrower or wider than the subscription."""
    props = assignment.get("properties") or {}
    name = (definition.get("properties") or {}).get("roleName") or props.get("roleDefinitionId", "").rsplit("/", 1)[-1]
    scope = str(props.get("scope") or "")
    return name if scope.lower() in ("", f"/subscriptions/{subscription_id}".lower()) else f"{name} ({scope})"


# Built-in roles that administer what they are assigned on (Owner and User Access Administrator also
# grant access to others). Matched by name: ids are Azure's well-known GUIDs but names are what people read.
ADMIN_ROLES = {
    "owner": "Owner grants every action, including giving access to others",
    "contributor": "Contributor grants every action except giving access",
    "user access administrator": "User Access Administrator can give anyone any role",
}


def _is_wide_scope(scope: str, subscription_id: str) -> bool:
    """The subscription itself or anything above it (management groups, the tenant root "/")."""
    scope = scope.rstrip("/").lower()
    return scope in ("", f"/subscriptions/{subscription_id}".lower()) or not scope.startswith("/subscriptions/")


def _wildcard_actions(definition: dict[str, Any]) -> list[str]:
    """Actions of the role that end in a wildcard: `*` or `<provider>/*` (not `*/read`, which is a reader)."""
    found: set[str] = set()
    for block in (definition.get("properties") or {}).get("permissions") or []:
        for action in [*(block.get("actions") or []), *(block.get("dataActions") or [])]:
            if action.strip().endswith("*"):
                found.add(action.strip())
    return sorted(found, key=str.lower)


def _advice(
    assignments: list[dict[str, Any]], definitions: dict[str, dict[str, Any]], subscription_id: str
) -> list[Advice]:
    findings: list[Advice] = []
    for assignment in assignments:
        props = assignment.get("properties") or {}
        definition = definitions.get(props.get("roleDefinitionId", ""), {})
        name = str((definition.get("properties") or {}).get("roleName") or "")
        scope = str(props.get("scope") or f"/subscriptions/{subscription_id}")
        if name.lower() in ADMIN_ROLES and _is_wide_scope(scope, subscription_id):
            findings.append(Advice("admin_policy", f"{name} is assigned at {scope}: {ADMIN_ROLES[name.lower()]}."))
        elif wildcards := _wildcard_actions(definition):
            listed = ", ".join(f'"{action}"' for action in wildcards)
            message = f"{name or 'A role'} at {scope} allows the wildcard actions {listed}."
            findings.append(Advice("wildcard_action", message))
    unique = {(a.code, a.message): a for a in findings}
    return sorted(unique.values(), key=lambda a: (a.code, a.message))


def _no_assignment(subscription_id: str, detected: list[str]) -> RoleOutcome:
    return RoleOutcome(
        Status.INVALID,
        error=f"The service principal has no role assignment on subscription {subscription_id}.",
        granted=[],
        denied=[],
        missing=list(detected),
        advice=[],
    )


class AzureRoleSupport(RoleSupport):
    """Service principals of an Azure connection."""

    fields = (
        RoleField("client_id", "Client (application) ID"),
        RoleField("object_id", "Object ID", "The service principal's object ID (no secret is stored)."),
    )
    identity_field = "client_id"
    noun = "service principal"

    def clean(self, auth_method: str, config: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """A service principal: client (application) id and object id, both GUIDs; nothing secret."""
        errors: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        for name, label in (("client_id", "client (application) ID"), ("object_id", "object ID")):
            value = str(data.get(name) or "").strip()
            if not value:
                errors[name] = [f"The service principal's {label} is required for Azure connections."]
            elif not GUID_RE.match(value):
                errors[name] = [f"The {label} must be a GUID such as 0b5c3e2a-1d4f-4a6b-9c8d-7e6f5a4b3c2d."]
            values[name] = value.lower()
        if errors:
            raise ProviderValidationError(errors)
        return values

    def validate(self, request: RoleRequest) -> RoleOutcome:
        subscription_id = str(request.config["subscription_id"])
        detected = request.detected
        if request.auth_method == "federated" and request.sign_assertion is None:
            return RoleOutcome(
                Status.ERROR,
                error="Federated validation needs the OIDC issuer: the platform cannot sign a client assertion.",
            )
        with request.credentials() as creds:
            try:
                token = _management_token(request.auth_method, creds.config, creds.secrets, request.sign_assertion)
            except ClientAuthenticationError as exc:
                message = " ".join(str(exc.message or exc).split())
                error = masking.mask(f"Authentication failed: {message}")[:_ERROR_LIMIT]
                return RoleOutcome(Status.ERROR, error=error)
            arm = _Arm(token, request.timeout)
            try:
                assignments = arm.role_assignments(subscription_id, request.role["object_id"])
            except ArmError as exc:
                # A principal with no role at all may not even list role assignments.
                own_principal = request.role["client_id"] == str(request.config.get("client_id", "")).lower()
                if exc.status == 403 and own_principal:
                    return _no_assignment(subscription_id, detected)
                raise
            if not assignments:
                return _no_assignment(subscription_id, detected)
            definition_ids = sorted(
                {(a.get("properties") or {}).get("roleDefinitionId", "") for a in assignments} - {""}
            )
            definitions = {definition_id: arm.role_definition(definition_id) for definition_id in definition_ids}
        granted = sorted(
            {
                _assignment_label(
                    a, definitions.get((a.get("properties") or {}).get("roleDefinitionId", ""), {}), subscription_id
                )
                for a in assignments
            },
            key=lambda g: (g.lower(), g),
        )
        missing = [operation for operation in detected if not _allows(definitions.values(), operation)]
        details = {"role_definitions": definition_ids}
        advice = _advice(assignments, definitions, subscription_id)
        if missing:
            error = f"The service principal's roles do not allow operations its code needs: {', '.join(missing)}."
            return RoleOutcome(
                Status.INVALID, error=error, granted=granted, denied=[], missing=missing, details=details, advice=advice
            )
        return RoleOutcome(Status.VALID, granted=granted, denied=[], missing=[], details=details, advice=advice)

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            return True
        return isinstance(exc, ArmError) and (exc.status == 429 or exc.status >= 500)
