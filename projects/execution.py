"""Executing one Terraform run: the pre-run gate, credentials, a clean environment, streaming, cancel.

`execute_run(run_id)` is what the Celery task calls. It is safe to call twice (a retried task): only a
`queued` run is taken (an atomic queued -> running update), anything else is left alone.

The gate (seed 004: "Roles are also re-validated automatically before each Terraform run"): the
connection is resolved (named, or selected for the environment), must be active and authorized for
the environment (the documented selection errors, word for word), and the role is re-validated with
`validate_before_use`; invalid/expired/error -> `blocked` with the reason and nothing runs; drift -> the
run goes on with a warning.

The child process gets a clean environment (`run_environment`): PATH, HOME (the run's temporary
directory), the Terraform CLI configuration, TF_IN_AUTOMATION, the materialized credentials and the
operator's `TERRAFORM_EXTRA_ENV` (e.g. endpoints of a local cloud emulator). Nothing else of the
worker's environment, so the platform's own cloud credentials never reach a customer's run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.audit import record_event
from accounts.choices import AuditAction
from connections.choices import ConnectionStatusChoices, UsageOutcomeChoices
from connections.models import Connection, ConnectionUsage
from connections.role_validation import RoleNotUsable, validate_before_use
from connections.run_credentials import run_credentials
from connections.runtime import SelectionError, select_connection, use_credentials
from core import crypto, masking

from .choices import RunKind, RunStatus
from .detection import missing, refresh_detection
from .models import RunLogLine, TerraformProject, TerraformRun
from .source import SourceError, extract_archive, git_auth_env, git_clone, read_tf_files
from .tagging import write_tag_file

logger = logging.getLogger(__name__)

PLAN_FILE = "platform.tfplan"
CLI_CONFIG = """provider_installation {{
  filesystem_mirror {{
    path    = {mirror}
    include = ["registry.terraform.io/*/*"]
  }}
  direct {{
    exclude = ["registry.terraform.io/*/*"]
  }}
}}
disable_checkpoint = true
"""


class RunCanceled(Exception):
    pass


class RunTimedOut(Exception):
    pass


class StepFailed(Exception):
    def __init__(self, step: str, code: int) -> None:
        self.code = code
        super().__init__(f"terraform {step} exited with code {code}.")


class TerraformMissing(Exception):
    pass


def terraform_bin() -> str:
    """The Terraform executable (setting TERRAFORM_BIN), or `TerraformMissing` with a clear message."""
    configured = str(settings.TERRAFORM_BIN)
    found = shutil.which(configured)
    if not found:
        raise TerraformMissing(
            f"Terraform is not installed: TERRAFORM_BIN is {configured!r} and no such executable was found. "
            "Install Terraform on the worker or set TERRAFORM_BIN to its path."
        )
    return found


# --- credentials (one function: the lead switches it to connections.runtime.run_credentials at merge) --


@contextmanager
def _credentials_for_run(
    connection: Connection, *, actor: Any, environment: str, run_label: str, workdir: str, role: Any = None
) -> Iterator[tuple[dict[str, str], list[str]]]:
    """The environment variables (files written 0600 under `workdir`) and the values to mask, for one run.

    `run_credentials` obtains what the connection's auth method needs for as long as the run lasts:
    access keys as they are; assume-role and federated methods as short-lived credentials the platform
    refreshes (a loopback credentials endpoint, token files rewritten before they expire). The use is
    audited and recorded like any other. Nothing else in this app obtains the cloud connection's
    credentials."""
    with run_credentials(
        connection,
        actor=actor,
        environment=environment,
        run_label=run_label,
        workdir=workdir,
        role_arn=(getattr(role, "role_arn", "") or None),
        session_duration=getattr(role, "session_duration", None),
        purpose="terraform-run",
    ) as creds:
        yield creds.env, creds.sensitive


# --- the environment --------------------------------------------------------------------------------


def run_environment(home: str, credentials_env: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": str(settings.TERRAFORM_PATH),
        "HOME": home,
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    if settings.TERRAFORM_PLUGIN_MIRROR:
        config_path = os.path.join(home, ".terraformrc")
        with open(config_path, "w") as handle:
            handle.write(CLI_CONFIG.format(mirror=json.dumps(str(settings.TERRAFORM_PLUGIN_MIRROR))))
        env["TF_CLI_CONFIG_FILE"] = config_path
    elif settings.TERRAFORM_CLI_CONFIG_FILE:
        env["TF_CLI_CONFIG_FILE"] = str(settings.TERRAFORM_CLI_CONFIG_FILE)
    env.update(credentials_env)
    env.update({str(k): str(v) for k, v in dict(settings.TERRAFORM_EXTRA_ENV).items()})
    return env


# --- the log ------------------------------------------------------------------------------------------


class RunLog:
    """Appends masked lines to the run's log, in small batches so a chatty run does not write per line."""

    def __init__(self, run: TerraformRun, sensitive: list[str] | None = None) -> None:
        self.run = run
        self.seq = run.log_lines
        self.sensitive = sorted({s for s in sensitive or () if len(s) >= 4}, key=len, reverse=True)
        self.pending: list[RunLogLine] = []
        self.last_flush = time.monotonic()

    def mask(self, text: str) -> str:
        for value in self.sensitive:
            text = text.replace(value, masking.MASK)
        return masking.mask(text)

    def write(self, text: str) -> None:
        for line in text.rstrip("\n").split("\n"):
            self.seq += 1
            self.pending.append(RunLogLine(run=self.run, seq=self.seq, text=self.mask(line.rstrip("\r"))[:4000]))
        if len(self.pending) >= 50 or time.monotonic() - self.last_flush > 0.5:
            self.flush()

    def flush(self, *, count: bool = True) -> None:
        """Write the pending lines; `count=False` leaves the run's `log_lines` to the caller's own save."""
        if self.pending:
            RunLogLine.objects.bulk_create(self.pending)
            if count:
                TerraformRun.objects.filter(pk=self.run.pk).update(log_lines=self.seq)
            self.pending = []
        self.last_flush = time.monotonic()


# --- running a process ----------------------------------------------------------------------------------


@dataclass
class Context:
    run: TerraformRun
    log: RunLog
    env: dict[str, str]
    workdir: str
    deadline: float
    binary: str
    outputs: dict[str, str] = field(default_factory=dict)


def _cancel_requested(run_id: int) -> bool:
    return TerraformRun.objects.filter(pk=run_id, cancel_requested=True).exists()


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (Terraform forwards it to providers and stops cleanly), SIGKILL after the grace."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=float(settings.TERRAFORM_CANCEL_GRACE))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Step:
    """A started `terraform <args>` whose output a reader thread queues (no database access here, so a
    step can start before the run's gate has decided, see `_early_init`)."""

    name: str
    args: list[str]
    process: subprocess.Popen
    lines: queue.Queue
    threads: list[threading.Thread]
    capture: bool
    stderr: list[bytes] = field(default_factory=list)


def start_step(
    binary: str, workdir: str, env: dict[str, str], step: str, args: list[str], *, capture: bool = False
) -> Step:
    process = subprocess.Popen(  # noqa: S603 - a fixed executable, arguments built here, no shell
        [binary, *args],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if not capture else subprocess.PIPE,
        start_new_session=True,
    )
    started = Step(step, args, process, queue.Queue(), [], capture)

    def reader() -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            started.lines.put(raw)
        started.lines.put(None)

    def stderr_reader() -> None:
        assert process.stderr is not None
        for raw in iter(process.stderr.readline, b""):
            started.stderr.append(raw)

    started.threads.append(threading.Thread(target=reader, daemon=True))
    if capture:
        started.threads.append(threading.Thread(target=stderr_reader, daemon=True))
    for thread in started.threads:
        thread.start()
    return started


def _json_line(ctx: Context, raw: bytes) -> None:
    """One line of `terraform <cmd> -json`: its human `@message` (and a diagnostic's detail) goes to the
    log, so the log reads like the plain output; the plan's `change_summary` is kept for the summary.
    A line that is not Terraform's JSON (an older or stand-in binary) is logged as it is."""
    text = raw.decode("utf-8", errors="replace")
    try:
        message = json.loads(text)
    except ValueError:
        message = None
    if not isinstance(message, dict) or "@message" not in message:
        ctx.log.write(text)
        return
    if message.get("type") == "change_summary":
        ctx.outputs["change_summary"] = json.dumps(message.get("changes") or {})
    ctx.log.write(str(message["@message"]))
    detail = (message.get("diagnostic") or {}).get("detail") if message.get("type") == "diagnostic" else None
    if detail:
        ctx.log.write(str(detail))


def finish_step(ctx: Context, started: Step, *, json_lines: bool = False) -> str:
    """Stream a started step's output into the log (or capture it) to its end; honour cancel and timeout."""
    process = started.process
    captured: list[bytes] = []
    last_cancel_check = 0.0
    done = False
    while not done:
        try:
            raw = started.lines.get(timeout=0.25)
            if raw is None:
                done = True
            elif started.capture:
                captured.append(raw)
            elif json_lines:
                _json_line(ctx, raw)
            else:
                ctx.log.write(raw.decode("utf-8", errors="replace"))
        except queue.Empty:
            ctx.log.flush()
        now = time.monotonic()
        if not done and now - last_cancel_check > 0.5:
            last_cancel_check = now
            if _cancel_requested(ctx.run.pk):
                _stop(process)
                raise RunCanceled()
        if not done and now > ctx.deadline:
            _stop(process)
            raise RunTimedOut()
    code = process.wait()
    for thread in started.threads:
        thread.join(timeout=5)
    if started.capture and code != 0:
        for raw in started.stderr:
            ctx.log.write(raw.decode("utf-8", errors="replace"))
    ctx.run.exit_code = code
    if code != 0:
        raise StepFailed(started.name, code)
    return b"".join(captured).decode("utf-8", errors="replace")


def run_step(ctx: Context, step: str, args: list[str], *, capture: bool = False, json_lines: bool = False) -> str:
    """Run `terraform <args>`: stream its output into the log (or capture it), honour cancel and timeout."""
    if not capture:
        ctx.log.write(f"$ terraform {' '.join(args)}")
    started = start_step(ctx.binary, ctx.workdir, ctx.env, step, args, capture=capture)
    TerraformRun.objects.filter(pk=ctx.run.pk).update(worker_pid=started.process.pid)
    return finish_step(ctx, started, json_lines=json_lines)


# --- the workspace --------------------------------------------------------------------------------------


def backend_files(project: TerraformProject, workdir: str) -> list[str]:
    """For a project with a state backend connection: a `backend` block and its configuration file."""
    backend = project.backend_connection
    if backend is None:
        return []
    spec = backend.provider_spec
    kind = backend.provider.removesuffix("_backend")
    pairs = spec.backend_config(dict(backend.config), state_name=f"{project.environment.slug}/{project.name}")
    pairs = {**pairs, **{str(k): str(v) for k, v in dict(settings.TERRAFORM_BACKEND_EXTRA_CONFIG).items()}}
    with open(os.path.join(workdir, "platform_backend_override.tf"), "w") as handle:
        handle.write(f'terraform {{\n  backend "{kind}" {{}}\n}}\n')
    with open(os.path.join(workdir, "platform.backend.hcl"), "w") as handle:
        for key, value in pairs.items():
            literal = value if value in ("true", "false") else json.dumps(value)
            handle.write(f"{key} = {literal}\n")
    return ["-backend-config=platform.backend.hcl"]


def _state_context(project: TerraformProject) -> crypto.SecretContext:
    return crypto.SecretContext(
        org=str(project.org_id), model="projects.terraformproject", row=str(project.pk), field="local_state"
    )


def restore_local_state(project: TerraformProject, workdir: str) -> None:
    if project.backend_connection_id is None and project.local_state_envelope:
        data = crypto.decrypt(project.local_state_envelope, context=_state_context(project))
        with open(os.path.join(workdir, "terraform.tfstate"), "wb") as handle:
            handle.write(data)


def save_local_state(project: TerraformProject, workdir: str) -> None:
    path = os.path.join(workdir, "terraform.tfstate")
    if project.backend_connection_id is None and os.path.exists(path):
        with open(path, "rb") as handle:
            envelope = crypto.encrypt(handle.read(), context=_state_context(project))
        TerraformProject.objects.filter(pk=project.pk).update(local_state_envelope=envelope)


def prepare_source(project: TerraformProject, ctx_dir: str, *, actor: Any, run_label: str) -> str:
    """Put the project's code in `ctx_dir/code` (archive or Git clone); return the Terraform directory."""
    code = os.path.join(ctx_dir, "code")
    if project.source_kind == "git":
        git_conn = project.git_connection
        if git_conn is None:
            raise SourceError("The project has no Git connection.")
        home = os.path.join(ctx_dir, "git-home")
        os.mkdir(home, 0o700)
        with use_credentials(git_conn, actor=actor, purpose="terraform-run", resource=run_label) as creds:
            token = str(creds.secrets.get("token") or "")
            username = "oauth2" if git_conn.provider == "gitlab" else "x-access-token"
            env = {"PATH": str(settings.TERRAFORM_PATH), "HOME": home, **git_auth_env(username, token)}
            git_clone(project.git_url, project.git_ref, code, env, timeout=float(settings.GIT_CLONE_TIMEOUT))
    else:
        os.mkdir(code, 0o700)
        extract_archive(bytes(project.archive), code)
    workdir = os.path.realpath(os.path.join(code, *[p for p in project.git_subdirectory.split("/") if p]))
    if not workdir.startswith(os.path.realpath(code)) or not os.path.isdir(workdir):
        raise SourceError(f"The subdirectory {project.git_subdirectory!r} does not exist in the source.")
    return workdir


def plan_summary(plan_json: str) -> tuple[int, int, int]:
    data = json.loads(plan_json or "{}")
    add = change = destroy = 0
    for change_row in data.get("resource_changes", []) or []:
        actions = change_row.get("change", {}).get("actions", [])
        add += "create" in actions
        change += "update" in actions
        destroy += "delete" in actions
    return add, change, destroy


def change_summary(changes_json: str) -> tuple[int, int, int]:
    """add/change/destroy from the `changes` of `terraform plan -json`'s `change_summary` line."""
    changes = json.loads(changes_json or "{}")
    return int(changes.get("add") or 0), int(changes.get("change") or 0), int(changes.get("remove") or 0)


def state_resources(state_json: str) -> list[str]:
    data = json.loads(state_json or "{}")
    found: list[str] = []

    def walk(module: dict) -> None:
        for resource in module.get("resources", []) or []:
            if resource.get("mode") == "managed":
                found.append(resource.get("address", ""))
        for child in module.get("child_modules", []) or []:
            walk(child)

    walk((data.get("values") or {}).get("root_module") or {})
    return sorted(a for a in found if a)


# --- the run ----------------------------------------------------------------------------------------------


def _actor(run: TerraformRun) -> Any:
    return run.created_by


def _finish(run: TerraformRun, status: str, *, reason: str = "", log: RunLog | None = None) -> TerraformRun:
    """Record the end of a run (status, duration, audit event, usage outcome) in one transaction."""
    now = timezone.now()
    run.status = status
    run.reason = (log.mask(reason) if log is not None else masking.mask(reason))[:1000]
    run.finished_at = now
    if run.started_at:
        run.duration_ms = int((now - run.started_at).total_seconds() * 1000)
    with transaction.atomic():  # the last log lines, the run's end and its audit event commit together
        if log is not None:
            log.flush(count=False)
            run.log_lines = log.seq
        run.save()
        if run.connection_id and status in (RunStatus.FAILED, RunStatus.CANCELED):
            ConnectionUsage.objects.filter(
                connection_id=run.connection_id, resource=run_label(run), purpose="terraform-run"
            ).update(outcome=UsageOutcomeChoices.FAILURE, error=run.reason or status, updated_at=now)
        record_event(
            org=run.org,
            action=AuditAction.PROJECT_RUN_FINISHED,
            actor=_actor(run),
            target=run.project,
            environment=run.environment,
            details={
                "run": run.pk,
                "kind": run.kind,
                "status": status,
                "exit_code": run.exit_code,
                "reason": run.reason[:300],
                "connection": run.connection.name if run.connection else "",
            },
        )
    return run


def run_label(run: TerraformRun) -> str:
    return f"run-{run.pk}@{run.project.name}"


def gate(run: TerraformRun) -> tuple[Connection, Any]:
    """The pre-run gate: the connection to use and the freshly validated role, or `Blocked` with the reason."""
    project = run.project
    try:
        selection = select_connection(
            project.org, project.environment, project.provider,
            connection=project.connection.name if project.connection else None,
        )  # fmt: skip
    except SelectionError as exc:
        raise Blocked(str(exc)) from None
    connection = selection.connection
    if connection.status == ConnectionStatusChoices.INACTIVE:
        raise Blocked(f"Connection '{connection.name}' is inactive.")
    role = project.role
    if role is not None and role.connection_id != connection.pk:
        raise Blocked(f"Role '{role}' belongs to connection '{role.connection.name}', not '{connection.name}'.")
    support = connection.provider_spec.role_support
    if role is None and support is not None and support.applies_to(connection.auth_method):
        raise Blocked(f"The project has no connection role: every {connection.provider_spec.label} project needs one.")
    if role is not None:
        try:
            # The platform re-validates (seed 004): its own act, whoever started the run.
            role = validate_before_use(connection, role, actor=SYSTEM)
        except RoleNotUsable as exc:
            raise Blocked(str(exc)) from None
    return connection, role


class Blocked(Exception):
    pass


def _claim(run_id: int) -> TerraformRun | None:
    """Take a queued run (queued -> running) exactly once; None when it is not queued any more."""
    now = timezone.now()
    taken = TerraformRun.objects.filter(pk=run_id, status=RunStatus.QUEUED, cancel_requested=False).update(
        status=RunStatus.RUNNING, started_at=now, updated_at=now
    )
    if not taken:
        return None
    # Two small joins rather than one of ten tables: PostgreSQL spent ~10 ms planning that one.
    run = TerraformRun.objects.select_related("org", "created_by").get(pk=run_id)
    run.project = TerraformProject.objects.select_related(
        "environment", "connection", "role", "backend_connection", "git_connection"
    ).get(pk=run.project_id)
    run.project.org = run.org
    return run


def _reap(run_id: int) -> None:
    """A redelivered task (the worker died mid-run: acks_late) finds its run `running` long past any
    possible end: record it as failed rather than leaving it running forever (and holding the apply lock)."""
    limit = timezone.now() - timedelta(seconds=float(settings.TERRAFORM_RUN_TIMEOUT) + 120)
    run = TerraformRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, started_at__lt=limit).first()
    if run is not None:
        _finish(run, RunStatus.FAILED, reason="The worker running it stopped before the run ended.")
    return None


@dataclass
class EarlyInit:
    """`terraform init` started while the gate decides (see `_early_init`): its workspace and process."""

    tmp: str
    home: str
    workdir: str
    step: Step
    notes: list[str]

    def abandon(self) -> None:
        """Stop init if it still runs and remove its files (idempotent)."""
        if self.step.process.poll() is None:
            _stop(self.step.process)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _new_tmp(run: TerraformRun) -> tuple[str, str]:
    tmp = tempfile.mkdtemp(prefix=f"tfrun-{run.pk}-", dir=settings.TERRAFORM_WORK_DIR or None)
    os.chmod(tmp, 0o700)
    home = os.path.join(tmp, "home")
    os.mkdir(home, 0o700)
    return tmp, home


def _early_init(run: TerraformRun, project: TerraformProject) -> EarlyInit | None:
    """Start `terraform init` before the gate, for a project whose init needs no credentials at all.

    The role re-validation (seed 004) costs about as much as init and plan of a small project; both
    are mostly waiting, so they overlap. Only when init uses nothing secret: no state backend (init
    would read the state with the backend's credentials), an uploaded archive (a Git clone uses the
    Git connection's token) and a named connection (the tag file names its provider). The process gets
    the run's clean environment WITHOUT any credentials, and its output is held back until the gate
    passes: a blocked run shows only why it was blocked, and init is stopped. Anything unexpected here
    falls back to the ordinary order (gate, then everything)."""
    if project.backend_connection_id is not None or project.source_kind == "git" or project.connection is None:
        return None
    try:
        binary = terraform_bin()
    except TerraformMissing:
        return None
    tmp, home = _new_tmp(run)
    try:
        workdir = prepare_source(project, tmp, actor=_actor(run), run_label=run_label(run))
        init_args, notes = _workspace(project, workdir, project.connection)
        step = start_step(binary, workdir, run_environment(home, {}), "init", init_args)
    except Exception:  # the ordinary path reports it, in order
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    return EarlyInit(tmp, home, workdir, step, notes)


def execute_run(run_id: int) -> TerraformRun | None:
    """Run one queued run to its end. Never raises for a run's own failure: the run records it."""
    run = _claim(run_id)
    if run is None:
        return _reap(run_id)
    project = run.project
    log = RunLog(run)
    early = _early_init(run, project)
    try:
        connection, role = gate(run)
    except Blocked as exc:
        if early is not None:
            early.abandon()
        log.write(f"Blocked: {exc}")
        return _finish(run, RunStatus.BLOCKED, reason=str(exc), log=log)
    except BaseException:
        if early is not None:
            early.abandon()
        raise
    run.connection = connection
    if role is not None and role.status == "drift":
        run.warnings = [*run.warnings, f"Role '{role}' has drifted since its last validation: its permissions changed."]
    if role is not None:
        run.missing_permissions = missing(
            project.detected_permissions, list(role.granted_permissions), list(role.denied_permissions)
        )
        if run.missing_permissions and run.kind != RunKind.PLAN:
            run.warnings = [
                *run.warnings,
                "The role lacks detected permissions: " + ", ".join(run.missing_permissions[:20]),
            ]
    update = ["connection", "warnings", "missing_permissions", "updated_at"]
    if early is not None:  # the early init's process, recorded with the gate's outcome (one write, not two)
        run.worker_pid = early.step.process.pid
        update.append("worker_pid")
    run.save(update_fields=update)
    for warning in run.warnings:
        log.write(f"Warning: {warning}")
    try:
        binary = terraform_bin()
    except TerraformMissing as exc:
        if early is not None:
            early.abandon()
        log.write(str(exc))
        return _finish(run, RunStatus.FAILED, reason=str(exc), log=log)
    tmp, home = (early.tmp, early.home) if early is not None else _new_tmp(run)
    status, reason = RunStatus.FAILED, ""
    try:
        creds_dir = os.path.join(tmp, "credentials")
        os.mkdir(creds_dir, 0o700)
        label = run_label(run)
        with _credentials_for_run(
            connection, actor=_actor(run), environment=run.environment, run_label=label, workdir=creds_dir, role=role
        ) as (cred_env, sensitive):
            log.sensitive = sorted(set(log.sensitive) | {s for s in sensitive if len(s) >= 4}, key=len, reverse=True)
            backend_env: dict[str, str] = {}
            if project.backend_connection is not None:
                backend_dir = os.path.join(tmp, "backend-credentials")
                os.mkdir(backend_dir, 0o700)
                with use_credentials(
                    project.backend_connection, actor=_actor(run), purpose="terraform-state", resource=label
                ) as backend_creds:
                    backend_env = backend_creds.materialize().write(backend_dir)
                    log.sensitive = sorted(
                        set(log.sensitive) | set(backend_creds.sensitive_values()), key=len, reverse=True
                    )
            env = run_environment(home, {**backend_env, **cred_env})
            if early is not None:
                workdir = early.workdir
            else:
                workdir = prepare_source(project, tmp, actor=_actor(run), run_label=label)
                if project.source_kind == "git":
                    refresh_detection(project, read_tf_files(workdir))
            ctx = Context(run, log, env, workdir, time.monotonic() + float(settings.TERRAFORM_RUN_TIMEOUT), binary)
            status, reason = _terraform(ctx, project, early)
    except RunCanceled:
        status, reason = RunStatus.CANCELED, "Canceled on request."
        log.write("Canceled: the run was stopped on request.")
    except RunTimedOut:
        status, reason = RunStatus.FAILED, f"Timed out after {settings.TERRAFORM_RUN_TIMEOUT} seconds."
        log.write(reason)
    except StepFailed as exc:
        status, reason = RunStatus.FAILED, str(exc)
        log.write(reason)
    except (SourceError, SelectionError) as exc:
        status, reason = RunStatus.FAILED, str(exc)
        log.write(f"Error: {exc}")
    except Exception as exc:  # the run must end recorded, whatever broke
        logger.exception("Run %s failed unexpectedly", run.pk)
        status, reason = RunStatus.FAILED, f"Internal error: {exc.__class__.__name__}: {masking.mask(str(exc))[:300]}"
        log.write(reason)
    finally:
        if early is not None:
            early.abandon()
        shutil.rmtree(tmp, ignore_errors=True)
    return _finish(run, status, reason=reason, log=log)


def _tag_note(workdir: str, connection: Connection | None, project: TerraformProject) -> str:
    """Add the provider's default tags (project, environment) so what the run creates is attributed."""
    if not settings.FINOPS_PROJECT_TAG:
        return ""
    provider = getattr(connection.provider_spec, "terraform_default_tags_provider", None) if connection else None
    written = write_tag_file(workdir, read_tf_files(workdir), provider, project.name, project.environment.slug)
    return f"{written.note} Written as {written.name}." if written.name else ""


def _workspace(project: TerraformProject, workdir: str, connection: Connection | None) -> tuple[list[str], list[str]]:
    """Write what init and plan read (backend configuration, variables, saved state, tag file); return
    init's arguments and the notes for the log."""
    init_args = ["init", "-input=false", "-no-color", *backend_files(project, workdir)]
    if project.variables:
        with open(os.path.join(workdir, "platform.auto.tfvars.json"), "w") as handle:
            json.dump(project.variables, handle)
    restore_local_state(project, workdir)
    note = _tag_note(workdir, connection, project)
    return init_args, [note] if note else []


def _terraform(ctx: Context, project: TerraformProject, early: EarlyInit | None = None) -> tuple[str, str]:
    run = ctx.run
    if early is not None:  # init already started (before the gate): now its output goes to the log
        for note in early.notes:
            ctx.log.write(note)
        ctx.log.write(f"$ terraform {' '.join(early.step.args)}")
        finish_step(ctx, early.step)
    else:
        init_args, notes = _workspace(project, ctx.workdir, run.connection or project.connection)
        for note in notes:
            ctx.log.write(note)
        run_step(ctx, "init", init_args)
    # -json: each line's human `@message` goes to the log and the `change_summary` line gives the plan
    # summary, so no `terraform show -json` of the saved plan (a second Terraform process) is needed.
    plan_args = ["plan", "-input=false", "-no-color", "-json", f"-out={PLAN_FILE}"]
    if run.kind == RunKind.DESTROY:
        plan_args.insert(1, "-destroy")
    run_step(ctx, "plan", plan_args, json_lines=True)
    if "change_summary" in ctx.outputs:
        summary = change_summary(ctx.outputs["change_summary"])
    else:  # a Terraform that printed no change_summary: read the saved plan
        summary = plan_summary(run_step(ctx, "show", ["show", "-json", "-no-color", PLAN_FILE], capture=True))
    run.plan_add, run.plan_change, run.plan_destroy = summary
    if run.kind == RunKind.PLAN:  # the run's end (`_finish`) saves the summary with the status
        return RunStatus.SUCCEEDED, ""
    run.save(update_fields=["plan_add", "plan_change", "plan_destroy", "exit_code", "updated_at"])
    try:
        run_step(ctx, "apply", ["apply", "-input=false", "-no-color", "-auto-approve", PLAN_FILE])
    finally:
        save_local_state(project, ctx.workdir)
    state = run_step(ctx, "show", ["show", "-json", "-no-color"], capture=True)
    run.resources = state_resources(state)
    run.save(update_fields=["resources", "exit_code", "updated_at"])
    return RunStatus.SUCCEEDED, ""
