"""Authentication hardening of the platform's own login: limits on failed logins and password resets
(`limits`), optional TOTP two-factor with recovery codes (`twofactor`), the login flow both the sign-in
page and `POST /api/v1/auth/token/` go through (`login`), and the audit events of it all (`services`).

Authentication events are platform-level: they go to the audit trail's org-less chain (see `services`).
"""
