"""The API's resource groups: plain data, so that settings (SPECTACULAR_SETTINGS["TAGS"]) can import it."""

from __future__ import annotations

# Path segment -> (tag, singular, plural). Unknown segments become their own tag, so a new app's
# endpoints are grouped without touching this table.
RESOURCES: dict[str, tuple[str, str, str]] = {
    "auth": ("account", "API token", "API tokens"),
    "me": ("account", "signed-in identity", "signed-in identities"),
    "orgs": ("organizations", "organization", "organizations"),
    "security": ("organizations", "security setting", "security settings"),
    "connections": ("connections", "connection", "connections"),
    "authorizations": ("connections", "environment authorization", "environment authorizations"),
    "usage": ("connections", "credential use", "credential uses"),
    "roles": ("roles", "connection role", "connection roles"),
    "environments": ("environments", "environment", "environments"),
    "members": ("members", "member", "members"),
    "tokens": ("tokens", "API token", "API tokens"),
    "audit": ("audit", "audit event", "audit events"),
    "notifications": ("notifications", "notification", "notifications"),
    "providers": ("providers", "provider", "providers"),
    "selection": ("environments", "connection selection", "connection selections"),
}

# (resource segment, action) -> summary, where the generated "Verb a noun" would read badly.
SUMMARIES: dict[tuple[str, str], str] = {
    ("auth", "create"): "Sign in and get an API token",
    ("me", "retrieve"): "Who the token or session belongs to",
    ("connections", "activate"): "Activate a connection",
    ("connections", "deactivate"): "Deactivate a connection",
    ("connections", "test"): "Test a connection's credentials now",
    ("connections", "rotate"): "Rotate a connection's credentials",
    ("connections", "trust_policy"): "Get the trust policy to set up for a connection",
    ("connections", "preview_delete"): "Preview what deleting a connection removes",
    ("authorizations", "authorizations"): "List a connection's environment authorizations",
    ("authorizations", "add_authorization"): "Authorize a connection for an environment",
    ("authorizations", "set_authorizations"): "Replace a connection's environment authorizations",
    ("authorizations", "revoke_authorization"): "Revoke a connection's authorization for an environment",
    ("usage", "usage"): "List a connection's credential uses",
    ("roles", "validate"): "Validate a connection role's permissions now",
    ("selection", "retrieve"): "Which connection each provider uses in an environment",
    ("members", "create"): "Add a member",
    ("members", "partial_update"): "Change a member's role",
    ("members", "destroy"): "Remove a member",
    ("tokens", "destroy"): "Revoke an API token",
    ("notifications", "dismiss"): "Dismiss a notification",
    ("security", "retrieve"): "Get an organization's security settings",
    ("security", "partial_update"): "Change an organization's security settings",
}

TAG_DESCRIPTIONS: list[dict[str, str]] = [
    {"name": "account", "description": "Sign in for an API token; who the token belongs to."},
    {"name": "organizations", "description": "Organizations, their plan and security settings."},
    {
        "name": "connections",
        "description": "Cloud, Git, registry, state, cluster and on-prem connections; test, rotate, authorize.",
    },
    {"name": "roles", "description": "A connection's roles and their permission validation."},
    {"name": "environments", "description": "Environments and the automatic connection selection for each."},
    {"name": "members", "description": "Who belongs to an organization, and with which role."},
    {"name": "tokens", "description": "API tokens for CI systems and scripts."},
    {"name": "audit", "description": "The append-only, hash-chained audit trail."},
    {"name": "notifications", "description": "Alerts raised for an organization."},
    {"name": "providers", "description": "What each provider needs: fields, auth methods, plan."},
]

