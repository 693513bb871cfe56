"""What a provider hands a run: credentials obtained at run time, and the helpers that keep them fresh.

`Provider.materialize` turns *stored* values into variables and files. Federated and role-based auth
methods store nothing usable: their credentials are obtained when a run starts (an STS session, a
platform OIDC token) and expire while a long run is still going. `Provider.run_setup` returns a
`RunSetup`: the `Materialized` variables and files to write before the run starts, plus `RunService`s
that keep them valid while it runs (a token file rewritten before it expires, a loopback endpoint the
SDKs re-read credentials from). The generic launcher (`connections.run_credentials`) writes, starts,
stops and deletes them; providers only say what, never where or for how long.

Plain Python like the rest of the providers package: no Django, the settings arrive in `RunContext`.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import Materialized

__all__ = ["RefreshingFile", "RunContext", "RunRef", "RunService", "RunSetup", "session_label"]

logger = logging.getLogger(__name__)

_LABEL_UNSAFE = re.compile(r"[^\w+=,.@-]")


def session_label(prefix: str, label: str, *, limit: int = 64) -> str:
    """`<prefix><label>` in the character set clouds accept for session names (STS: ``[\\w+=,.@-]``, 2..64)."""
    text = _LABEL_UNSAFE.sub("-", f"{prefix}{label}")[:limit]
    return text if len(text) >= 2 else f"{text}--"[:2]


@dataclass
class RunRef:
    """The connection an ECR/GCR/state-backend connection borrows, already set up for this run."""

    provider: str
    auth_method: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    setup: RunSetup


@dataclass
class RunContext:
    """Everything a provider may use to set up one run's credentials. Built by the launcher."""

    org_slug: str
    connection_name: str
    run_label: str
    external_id: str = ""
    #: The identity the run works as (an IAM role ARN), when the caller (the project) chose one.
    role_arn: str | None = None
    #: The connection's first connection role: used when neither the caller nor the connection names one.
    fallback_role_arn: str | None = None
    session_duration: int = 3600
    #: ``sign(audience, lifetime_seconds) -> JWT`` with the platform's OIDC issuer, for this connection's subject.
    sign_assertion: Callable[[str, int], str] | None = None
    token_lifetime: int = 3600
    refresh_margin: int = 300
    timeout: float = 10.0
    #: Called with every credential value obtained after the run started (refreshed tokens, renewed
    #: sessions) so the run's log masker learns it before the run can print it.
    on_secret: Callable[[str], None] = lambda value: None

    @property
    def refresh_interval(self) -> float:
        """Seconds between token rewrites: the lifetime minus the margin (half the lifetime if the margin eats it)."""
        interval = self.token_lifetime - self.refresh_margin
        if interval <= 0:
            interval = self.token_lifetime / 2
        return max(1.0, float(interval))

    def sign(self, audience: str) -> str:
        """A fresh token for `audience`, reported to `on_secret`."""
        if self.sign_assertion is None:
            raise RuntimeError("The platform's OIDC issuer is not configured, so no token can be signed for the run.")
        token = self.sign_assertion(audience, self.token_lifetime)
        self.on_secret(token)
        return token


class RunService:
    """Something that keeps a run's credentials valid while it runs. `start` returns variables to add."""

    def start(self, root: str) -> dict[str, str]:
        return {}

    def stop(self) -> None:
        """Stop for good; must be safe to call twice and when `start` failed half-way."""


@dataclass
class RunSetup:
    """A run's credentials: what to write before it starts, and what keeps them fresh.

    `session_credentials`, when set, returns the current cloud session (boto3 session keyword arguments
    for AWS) so a connection borrowing this one (ECR) can call the cloud with it.
    """

    materialized: Materialized = field(default_factory=Materialized)
    services: list[RunService] = field(default_factory=list)
    session_credentials: Callable[[], dict[str, str]] | None = None

    def merged(self, other: RunSetup) -> RunSetup:
        """`other` layered on top (see `Materialized.merged`); services of both run."""
        return RunSetup(
            self.materialized.merged(other.materialized),
            [*self.services, *other.services],
            other.session_credentials or self.session_credentials,
        )


class RefreshingFile(RunService):
    """Rewrites one materialized file with `produce()` every `interval` seconds until stopped.

    The new content is written to a private temporary file in the same directory and renamed over the
    old one, so a reader (an SDK re-reading its token file) sees either the old or the new token, never
    half of one. A failed refresh is logged (without the value) and retried sooner.
    """

    def __init__(self, name: str, produce: Callable[[], str], interval: float) -> None:
        self.name = name
        self.produce = produce
        self.interval = interval
        self.path = ""
        self.refreshed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, root: str) -> dict[str, str]:
        self.path = os.path.join(root, *self.name.split("/"))
        self._thread = threading.Thread(target=self._loop, name=f"refresh-{self.name}", daemon=True)
        self._thread.start()
        return {}

    def _loop(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            try:
                self.rewrite()
                wait = self.interval
            except Exception as exc:  # keep the run going: the old token is still valid for the margin
                logger.warning("Refreshing %s for a run failed: %s", self.name, exc.__class__.__name__)
                wait = max(1.0, self.interval / 4)

    def rewrite(self) -> None:
        content = self.produce().encode()
        directory = os.path.dirname(self.path)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".refresh-")  # 0600, O_EXCL
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(temporary, self.path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        self.refreshed += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
