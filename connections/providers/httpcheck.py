"""HTTP plumbing shared by the connection checks of providers with a plain REST API.

GitHub, GitLab, Docker Hub, DigitalOcean, Scaleway, Civo, Cloudflare, Kubernetes, Proxmox and
vCenter all test a connection the same way: one to three calls through the SSRF guard
(`CheckContext.request`), then the provider's own error text becomes the reason. What they share
lives here, once, so no check can forget one of the rules:

* the whole check, not each call, is bounded by ``ctx.timeout``;
* guard refusals and network/TLS failures become `CheckFailed` with the guard's readable message;
* no reason or result ever carries a value from the secret payload (provider messages are
  untrusted text and could echo a token back);
* TLS trusts the default CA bundle plus the operator's extra CA (see `trusted_ca_data`).
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import certifi

from core.masking import scrub
from core.netguard import GuardedResponse, NetguardError

from .contract import CheckContext, CheckFailed, CheckResult

__all__ = ["USER_AGENT", "CheckClient", "json_or_empty", "text_field", "trusted_ca_data"]

USER_AGENT = "cloudconnections-check/1.0"
# Provider messages are shown on a card: a paragraph is plenty, a stack trace or HTML page is not.
_MAX_REASON = 300


def trusted_ca_data(ctx: CheckContext) -> str | None:
    """The CA bundle for HTTPS endpoints: the default one, plus the operator's ``ctx.extra_ca_data``.

    Self-managed GitLab, GitHub Enterprise Server, Proxmox and vCenter commonly use certificates from
    a company CA. Verification is never turned off, so an operator who needs to trust such a CA sets
    the ``EXTRA_CA_DATA`` setting (PEM text, or the path of a PEM file), which the test service puts
    on the context (provider modules never read settings); it is added to, not substituted for, the
    default bundle. None means "the guard's default bundle" (nothing extra configured).
    """
    extra = str(getattr(ctx, "extra_ca_data", "") or "").strip()
    if not extra:
        return None
    return _bundle_with(extra)


@functools.lru_cache(maxsize=4)
def _bundle_with(extra: str) -> str:
    """Default bundle + extra PEM, built once per value: the bundle is a few hundred kilobytes.

    A file path is therefore read once per process; restart workers after replacing the file.
    """
    if "-----BEGIN" not in extra:
        try:
            extra = Path(extra).read_text()
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise CheckFailed(f"The extra CA file (EXTRA_CA_DATA) cannot be read ({why}).") from None
    return f"{_default_bundle()}\n{extra}\n"


def _default_bundle() -> str:
    """certifi's bundle, which the guard itself uses by default; else the system's."""
    try:
        return Path(certifi.where()).read_text()
    except OSError:  # pragma: no cover - a damaged install: fall back to the system's
        cafile = ssl.get_default_verify_paths().cafile
        return Path(cafile).read_text() if cafile else ""


def json_or_empty(response: GuardedResponse) -> Any:
    """The response's JSON, or ``{}`` when it has none: error pages are often HTML from a proxy."""
    try:
        return response.json()
    except NetguardError:
        return {}


def text_field(data: Any, *keys: str) -> str:
    """The first non-empty string among `keys` of a JSON object (providers name their message differently)."""
    if not isinstance(data, Mapping):
        return ""
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


class CheckClient:
    """The HTTP calls of one connection check against one service.

    `service` names the provider in reasons ("GitHub", "the Kubernetes API server"); `secrets` is
    the connection's secret payload, scrubbed from every reason and result built here. Default
    `headers` (authentication) are sent with every call, after ours so a provider can override them.
    """

    def __init__(
        self,
        ctx: CheckContext,
        service: str,
        *,
        secrets: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        ca_data: str | None = None,
        client_cert: tuple[str, str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.service = service
        self.secrets = secrets
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        self.ca_data = ca_data if ca_data is not None else trusted_ca_data(ctx)
        self.client_cert = client_cert
        self.deadline = time.monotonic() + ctx.timeout

    def call(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, json_body: Any = None
    ) -> GuardedResponse:
        """One request within what is left of the check's time budget; failures become `CheckFailed`."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self.failed(f"{self._subject} did not answer within {self.ctx.timeout:g} seconds.")
        send = {**self.headers, **(headers or {})}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            send["Content-Type"] = "application/json"
        try:
            return self.ctx.request(
                method,
                url,
                headers=send,
                body=body,
                ca_data=self.ca_data,
                client_cert=self.client_cert,
                # Rounded so the guard's "did not answer within N seconds" reads as the configured timeout.
                timeout=max(round(remaining, 2), 0.01),
            )
        except NetguardError as exc:
            raise self.failed(f"Could not reach {self.service}: {exc}") from None
        except ValueError as exc:  # the guard refuses header values with line breaks; its message names no value
            raise self.failed(f"Could not call {self.service}: {exc}.") from None

    def failed(self, reason: str, *, details: dict[str, Any] | None = None) -> CheckFailed:
        """A `CheckFailed` whose reason is scrubbed of secrets and kept to card size."""
        reason = scrub(reason, self.secrets)
        if len(reason) > _MAX_REASON:
            reason = reason[: _MAX_REASON - 1] + "…"
        return CheckFailed(reason, details=self._scrubbed(details or {}))

    def unexpected(self, response: GuardedResponse, message: str = "") -> CheckFailed:
        """For a status the check has no specific meaning for: the status and the provider's words."""
        return self.failed(f"{self._subject} answered HTTP {response.status}" + (f": {message}" if message else "."))

    @property
    def _subject(self) -> str:
        """The service name at the start of a sentence ("the Kubernetes API server" → "The ...")."""
        return self.service[:1].upper() + self.service[1:]

    def result(self, message: str, details: dict[str, Any]) -> CheckResult:
        """A passed check, scrubbed like a failure (details come from the provider's answers)."""
        return CheckResult(scrub(message, self.secrets), self._scrubbed(details))

    def _scrubbed(self, value: Any) -> Any:
        """Strings scrubbed wherever they sit; keys are ours, and masking them would hide words like "token"."""
        if isinstance(value, str):
            return scrub(value, self.secrets)
        if isinstance(value, Mapping):
            return {key: self._scrubbed(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrubbed(item) for item in value]
        return value
