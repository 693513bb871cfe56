"""`run_credentials`: the credentials one run gets, obtained by the platform and handed only to that run.

A run (a Terraform plan or apply) must never see the worker's own environment; it gets exactly what
this context manager yields: `RunCredentials.env` (the variables to give the child process, nothing
else), `.files` (what was written for it, all 0600 in a private directory under the run's workdir)
and `.sensitive` (every value the run's log masker must hide).

How each auth method reaches the run is the provider's business (`Provider.run_setup`, see
`connections.providers.run`): stored keys are materialized as before; an assumed role is served through
a loopback credentials endpoint that renews the session; platform OIDC tokens are written to files that
are rewritten before they expire; registries get a docker ``config.json``. This module is the generic
part: it goes through `use_credentials` (policy, environment authorization, audit event, usage row,
masking), builds the provider's `RunContext` from settings and the platform's OIDC issuer, writes the
files, starts the refreshers, and on exit stops them and deletes every file, whatever happened.

Values obtained after the run started (a refreshed token, a renewed session) are appended to
`RunCredentials.sensitive` (the same list object) and registered with the process-wide masker as
they appear.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from accounts.models import Environment
from core import masking
from identity.keys import assertion_signer, subject_for

from .models import Connection
from .providers.base import Materialized
from .providers.run import RunContext, RunRef, RunSetup
from .runtime import Credentials, use_credentials

__all__ = ["RunCredentials", "run_credentials"]

RUN_PURPOSE = "run"


@dataclass
class RunCredentials:
    """What a run gets. `env` holds only what the run needs: start the child with exactly this (plus
    the run's own non-secret variables such as PATH/HOME/TF_*), never ``os.environ``."""

    env: dict[str, str]
    sensitive: list[str]
    files: list[Path]
    directory: Path
    connection: Connection
    services: list[Any] = field(default_factory=list, repr=False)

    def __repr__(self) -> str:
        return f"<RunCredentials {self.connection.name} env={sorted(self.env)} files={len(self.files)}>"


class _Secrets:
    """Collects values obtained during the run; registers each with the masker once (thread-safe)."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._registered: list[str] = []
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if not value:
            return
        with self._lock:
            if value in self.values:
                return
            self.values.append(value)
            self._registered.extend(masking.register([value]))

    def close(self) -> None:
        with self._lock:
            masking.unregister(self._registered)
            self._registered = []


def _first_role_arn(connection: Connection) -> str | None:
    role = connection.roles.exclude(role_arn="").order_by("created_at").first()
    return role.role_arn if role else None


def _context(
    connection: Connection, *, run_label: str, role_arn: str | None, session_duration: int | None, collected: _Secrets
) -> RunContext:
    subject = subject_for(connection.org.slug, connection.name)
    # The subject stays the connection's (what the cloud side trusts, exactly as the connection test
    # presented it); the run is named in a claim of its own and in the session name.
    signer = assertion_signer(subject=subject, extra={"run": run_label[:200]})
    return RunContext(
        org_slug=connection.org.slug,
        connection_name=connection.name,
        run_label=run_label,
        external_id=connection.external_id,
        role_arn=role_arn,
        fallback_role_arn=_first_role_arn(connection),
        session_duration=int(session_duration or settings.RUN_SESSION_DURATION_SECONDS),
        sign_assertion=signer,
        # The signer caps lifetimes at OIDC_MAX_ASSERTION_LIFETIME: refresh by the lifetime tokens really get.
        token_lifetime=max(1, min(int(settings.RUN_TOKEN_LIFETIME_SECONDS), int(settings.OIDC_MAX_ASSERTION_LIFETIME))),
        refresh_margin=int(settings.RUN_CREDENTIALS_REFRESH_MARGIN_SECONDS),
        timeout=float(settings.CONNECTION_CHECK_TIMEOUT),
        on_secret=collected.add,
    )


def _setup(creds: Credentials, ctx: RunContext, ref: RunRef | None) -> RunSetup:
    """The provider's run setup, or plain materialization for methods whose stored values suffice."""
    connection = creds.connection
    spec = connection.provider_spec
    setup = spec.run_setup(connection.auth_method, creds.config, creds.secrets, ctx, ref=ref)
    if setup is not None:
        return setup
    materialized: Materialized = spec.materialize(
        connection.auth_method,
        creds.config,
        creds.secrets,
        ref=ref.setup.materialized if ref else None,
        ref_config=ref.config if ref else None,
    )
    if ref is None:
        return RunSetup(materialized)
    return RunSetup(materialized, list(ref.setup.services), ref.setup.session_credentials)


@contextmanager
def run_credentials(
    connection: Connection,
    *,
    actor: Any,
    environment: Environment | str,
    run_label: str,
    workdir: Path | str,
    role_arn: str | None = None,
    session_duration: int | None = None,
    purpose: str = RUN_PURPOSE,
) -> Iterator[RunCredentials]:
    """Obtain `connection`'s credentials for one run in `environment` and hand them over (see the module docstring).

    `run_label` names the run where the cloud shows it (the STS session `run-<label>`, the token's
    ``run`` claim) and on the usage row; `role_arn` and `session_duration` are the project's choice
    (else the connection's first role and ``RUN_SESSION_DURATION_SECONDS``). Raises what
    `use_credentials` raises (not authorized, inactive, no permission) before anything is obtained,
    and the cloud's error when it refuses (recorded as a failed use). On exit, refreshers and
    endpoints are stopped and the files deleted.
    """
    collected = _Secrets()
    with ExitStack() as stack:
        stack.callback(collected.close)
        creds = stack.enter_context(
            use_credentials(connection, actor=actor, environment=environment, purpose=purpose, resource=run_label)
        )
        ctx = _context(
            creds.connection,
            run_label=run_label,
            role_arn=role_arn,
            session_duration=session_duration,
            collected=collected,
        )
        ref = None
        if creds.ref is not None:
            ref_conn = creds.ref.connection
            ref_ctx = _context(ref_conn, run_label=run_label, role_arn=None, session_duration=session_duration,
                               collected=collected)  # fmt: skip
            ref_creds = creds.ref
            ref = RunRef(ref_conn.provider, ref_conn.auth_method, ref_creds.config, ref_creds.secrets,
                         _setup(ref_creds, ref_ctx, None))  # fmt: skip
        setup = _setup(creds, ctx, ref)
        for value in setup.materialized.sensitive:
            collected.add(value)
        Path(workdir).mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=".credentials-", dir=workdir))  # 0700
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        env = setup.materialized.write(root)
        for service in setup.services:
            stack.callback(service.stop)
            env.update(service.start(str(root)))
        files = sorted(root / name for name in setup.materialized.files)
        yield RunCredentials(
            env=env, sensitive=collected.values, files=files, directory=root, connection=creds.connection,
            services=list(setup.services),
        )  # fmt: skip
