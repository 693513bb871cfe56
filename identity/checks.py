"""System checks of the OIDC issuer: refuse an issuer URL the platform cannot serve.

Relying parties (Entra ID, AWS, GCP) fetch `<issuer>/.well-known/openid-configuration` and require the
`iss` claim to equal the issuer byte for byte. An issuer whose path this platform does not route (e.g.
`https://host/oidc` while the documents are served at the root) gives assertions nobody can verify; an
`http://` issuer lets anyone on the path swap the JWKS, i.e. mint identities in customers' clouds. Both are
Errors (not deploy-only warnings), so `migrate`, `runserver` and `check` refuse to run with them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import Resolver404, resolve

from . import conf

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
JWKS_SUFFIX = "/.well-known/jwks.json"


def _routes_to(path: str, view_name: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.view_name == view_name


@checks.register()
def check_issuer_url(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """identity.E001: not a usable URL; E002: http with DEBUG off; E003: discovery/JWKS not routed under its path."""
    try:
        issuer = conf.issuer_url()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="identity.E001")]
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return [
            checks.Error(
                f"OIDC_ISSUER_URL {issuer!r} is not an issuer URL.",
                hint="Use https://host[/path], with no query or fragment.",
                id="identity.E001",
            )
        ]
    errors: list[checks.CheckMessage] = []
    if parts.scheme != "https" and not settings.DEBUG:
        errors.append(
            checks.Error(
                f"OIDC_ISSUER_URL {issuer!r} is not https.",
                hint="Relying parties fetch the signing keys from the issuer: serve it over https, "
                "e.g. OIDC_ISSUER_URL=https://platform.example.com.",
                id="identity.E002",
            )
        )
    base = parts.path.rstrip("/")
    script_name = (settings.FORCE_SCRIPT_NAME or "").rstrip("/")
    if script_name and base.startswith(script_name):
        base = base[len(script_name) :]  # the platform is mounted under a prefix: routes are below it
    unrouted = [
        suffix
        for suffix, view_name in (
            (DISCOVERY_SUFFIX, "identity:openid-configuration"),
            (JWKS_SUFFIX, "identity:jwks"),
        )
        if not _routes_to(base + suffix, view_name)
    ]
    if unrouted:
        errors.append(
            checks.Error(
                f"OIDC_ISSUER_URL {issuer!r}: the platform does not serve {', '.join(base + s for s in unrouted)}.",
                hint="Relying parties read the documents under the issuer's path; the platform serves them at "
                "its root, so the issuer URL has no path (e.g. https://platform.example.com).",
                id="identity.E003",
            )
        )
    return errors
