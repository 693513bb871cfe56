"""A tiny fake of Microsoft Entra ID's token endpoint and Azure Resource Manager's role assignments.

Just what role validation uses, over real HTTPS (azure-identity and MSAL insist on https for the
authority, TESTING.md): the tenant's OpenID configuration, the client-credentials token grant (a
client secret or a client assertion), role assignments filtered by principal (paged with
`nextLink`), and role definitions. Certificates come from `tests.fakes.http.CertificateAuthority`;
write `ca_pem` to a file and point `AZURE_CA_BUNDLE` at it.

    with FakeAzure(tenant_id=TENANT, subscription_id=SUB) as azure:
        azure.add_client(CLIENT_ID, secret="...")
        azure.assign(PRINCIPAL_ID, "Contributor")
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, quote

from tests.fakes.http import FakeServer, RecordedRequest, Reply, Route, json_reply

__all__ = ["BUILT_IN_ROLES", "FakeAzure"]

# Built-in roles as Azure defines them (ids are Azure's real, well-known GUIDs), trimmed to what matters.
BUILT_IN_ROLES: dict[str, dict[str, Any]] = {
    "Owner": {"id": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "actions": ["*"], "not_actions": []},
    "Contributor": {
        "id": "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "actions": ["*"],
        "not_actions": [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
        ],
    },
    "Reader": {"id": "acdd72a7-3385-48ef-bd42-f606fba81ae7", "actions": ["*/read"], "not_actions": []},
}


class FakeAzure(FakeServer):
    """Entra ID (one tenant) + ARM (one subscription) on one TLS port."""

    service = "azure"

    def __init__(self, *, tenant_id: str, subscription_id: str, page_size: int = 100, **kwargs: Any) -> None:
        self.tenant_id = tenant_id
        self.subscription_id = subscription_id
        self.page_size = page_size
        self.clients: dict[str, str | None] = {}  # client id -> secret (None: federated, any assertion)
        self.assertions: list[str] = []
        self.tokens: set[str] = set()
        self.definitions: dict[str, dict[str, Any]] = {}
        self.assignments: list[dict[str, Any]] = []
        self._counter = itertools.count(1)
        super().__init__(tls=True, **kwargs)
        for name, role in BUILT_IN_ROLES.items():
            self.define_role(name, role["actions"], role["not_actions"], role_id=role["id"])

    # -- state -------------------------------------------------------------------------------------

    def add_client(self, client_id: str, *, secret: str | None = None) -> None:
        """Register an app: with a secret (client_secret) or without (federated: any assertion is accepted
        and recorded in `assertions` for the test to inspect)."""
        self.clients[client_id] = secret

    def define_role(
        self, name: str, actions: Iterable[str], not_actions: Iterable[str] = (), *, role_id: str | None = None
    ) -> str:
        role_id = role_id or str(uuid.uuid4())
        self.definitions[role_id] = {
            "id": self._definition_path(role_id),
            "name": role_id,
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {
                "roleName": name,
                "type": "BuiltInRole" if name in BUILT_IN_ROLES else "CustomRole",
                "permissions": [
                    {"actions": list(actions), "notActions": list(not_actions), "dataActions": [], "notDataActions": []}
                ],
                "assignableScopes": ["/"],
            },
        }
        return role_id

    def assign(self, principal_id: str, role_name: str, *, scope: str | None = None) -> None:
        role_id = next(k for k, v in self.definitions.items() if v["properties"]["roleName"] == role_name)
        assignment_id = str(uuid.uuid4())
        scope = scope or f"/subscriptions/{self.subscription_id}"
        self.assignments.append(
            {
                "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{assignment_id}",
                "name": assignment_id,
                "type": "Microsoft.Authorization/roleAssignments",
                "properties": {
                    "roleDefinitionId": self._definition_path(role_id),
                    "principalId": principal_id,
                    "principalType": "ServicePrincipal",
                    "scope": scope,
                },
            }
        )

    def _definition_path(self, role_id: str) -> str:
        return f"/subscriptions/{self.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"

    # -- routes ------------------------------------------------------------------------------------

    def routes(self) -> Iterable[Route]:
        authz = r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Authorization"
        return (
            Route("GET", r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration", self._openid),
            Route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", self._token),
            Route("GET", authz + r"/roleAssignments", self._role_assignments),
            Route("GET", authz + r"/roleDefinitions/(?P<role>[^/]+)", self._role_definition),
        )

    @staticmethod
    def _error(status: int, code: str, message: str) -> Reply:
        return json_reply(status, {"error": {"code": code, "message": message}})

    def _openid(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        tenant = match["tenant"]
        if tenant != self.tenant_id:
            return self._error(400, "invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.")
        base = f"{self.url}/{tenant}"
        return json_reply(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            },
        )

    def _token(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        client_id = form.get("client_id", "")
        if match["tenant"] != self.tenant_id or client_id not in self.clients:
            return json_reply(
                400,
                {
                    "error": "unauthorized_client",
                    "error_description": f"AADSTS700016: Application '{client_id}' not found.",
                },
            )
        secret = self.clients[client_id]
        if secret is not None and form.get("client_secret") != secret:
            return json_reply(
                401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
            )
        if secret is None:
            if not form.get("client_assertion"):
                return json_reply(400, {"error": "invalid_request", "error_description": "AADSTS900144: no assertion."})
            self.assertions.append(form["client_assertion"])
        token = f"fake-arm-token-{next(self._counter)}"
        self.tokens.add(token)
        return json_reply(
            200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )

    def _authorized(self, request: RecordedRequest) -> bool:
        header = request.header("Authorization") or ""
        return header.startswith("Bearer ") and header[7:] in self.tokens

    def _role_assignments(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if not self._authorized(request):
            return self._error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if match["sub"] != self.subscription_id:
            return self._error(404, "SubscriptionNotFound", f"The subscription '{match['sub']}' could not be found.")
        wanted = re.fullmatch(r"principalId eq '([^']+)'", (request.query.get("$filter") or [""])[0])
        rows = [a for a in self.assignments if wanted is None or a["properties"]["principalId"] == wanted.group(1)]
        start = int((request.query.get("$skiptoken") or ["0"])[0])
        page: dict[str, Any] = {"value": rows[start : start + self.page_size]}
        if start + self.page_size < len(rows):
            query = "&".join(f"{k}={quote(v[0])}" for k, v in request.query.items() if k != "$skiptoken")
            page["nextLink"] = f"{self.url}{request.path}?{query}&$skiptoken={start + self.page_size}"
        return json_reply(200, page)

    def _role_definition(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if not self._authorized(request):
            return self._error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        definition = self.definitions.get(match["role"])
        if definition is None:
            return self._error(404, "RoleDefinitionDoesNotExist", "The specified role definition does not exist.")
        return json_reply(200, definition)
