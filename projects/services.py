"""State changes of the projects app, one `do_*` per change: policy check, transaction, audit event.

Rules live here only (pages, API and tasks call these): a project's connection and role must agree,
the state backend must be a state-backend connection, the source must pass the archive checks, and
one apply/destroy at a time per project is a database constraint turned into a clear error.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import actor_label, split_actor
from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.models import Environment, Organization
from accounts.policy import Action, check
from connections.models import Connection, ConnectionRole
from connections.providers import UnknownProvider, get_provider
from core.queue import send_on_commit

from .choices import ACTIVE_STATUSES, RunKind, RunStatus, SourceKind
from .detection import refresh_detection, refresh_role_detection
from .models import TerraformProject, TerraformRun
from .source import SourceError, check_archive, check_git_url
from .tasks import execute_run_task

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
EDITABLE = (
    "name", "description", "environment", "connection", "provider", "role", "backend_connection", "variables",
    "source_kind", "archive", "git_connection", "git_url", "git_ref", "git_subdirectory",
)  # fmt: skip


def _user(actor: Any) -> Any:
    return split_actor(actor)[0]


def _connection(org: Organization, name: str | None, field: str, category: str | None = None) -> Connection | None:
    if not name:
        return None
    found = Connection.objects.filter(org=org, name=name).first()
    if found is None:
        raise ValidationError({field: f"No connection named '{name}' in {org.slug}."})
    if category and found.category != category:
        raise ValidationError(
            {field: f"'{name}' is a {found.provider_spec.label} connection, not a {category_label(category)}."}
        )
    return found


def category_label(category: str) -> str:
    return {"cloud": "cloud connection", "state_backend": "state backend", "git": "Git connection"}.get(
        category, category
    )


def _clean(org: Organization, project: TerraformProject, data: dict[str, Any]) -> None:
    """Apply `data` to `project`, raising one ValidationError with every field's message."""
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for key in ("name", "description", "git_url", "git_ref", "git_subdirectory"):
        if key in data:
            setattr(project, key, str(data[key] or "").strip())
    if "environment" in data:
        env = Environment.objects.filter(org=org, slug=str(data["environment"] or "")).first()
        if env is None:
            fail("environment", f"No environment '{data['environment']}' in {org.slug}.")
        else:
            project.environment = env
    for key, category in (("connection", "cloud"), ("backend_connection", "state_backend"), ("git_connection", "git")):
        if key in data:
            try:
                setattr(project, key, _connection(org, data[key], key, category))
            except ValidationError as exc:
                for message in exc.message_dict[key]:
                    fail(key, message)
    if project.connection is not None:
        project.provider = project.connection.provider
    elif data.get("provider"):
        project.provider = str(data["provider"])
    if not project.provider:
        fail("provider", "Choose a connection, or a provider to select the connection automatically.")
    else:
        try:
            spec = get_provider(project.provider)
            if spec.category != "cloud":
                fail("provider", f"{spec.label} is not a cloud provider.")
        except UnknownProvider as exc:
            fail("provider", exc.message)
            spec = None
    if "role" in data:
        role_id = data["role"]
        project.role = None
        if role_id not in (None, ""):
            role = (
                ConnectionRole.objects.filter(org=org, pk=role_id).select_related("connection").first()
                if str(role_id).isdigit()
                else None
            )
            if role is None:
                fail("role", "No such connection role.")
            elif project.connection is not None and role.connection_id != project.connection.pk:
                fail("role", f"That role belongs to '{role.connection.name}', not '{project.connection.name}'.")
            elif role.connection.provider != project.provider:
                fail("role", "That role belongs to a connection of another provider.")
            else:
                project.role = role
    if project.provider and not errors.get("provider") and project.role is None:
        spec = get_provider(project.provider)
        # A connection that is its own identity (an AWS web identity connection) takes no roles.
        needs_role = spec.role_support is not None and (
            project.connection is None or spec.role_support.applies_to(project.connection.auth_method)
        )
        if needs_role:
            fail("role", f"Every {spec.label} project needs a connection role (the identity Terraform works as).")
    if "variables" in data:
        variables = data["variables"] or {}
        if not isinstance(variables, dict):
            fail("variables", "Variables are a JSON object of name: value.")
        else:
            bad = [k for k in variables if not VARIABLE_NAME.match(str(k))]
            if bad:
                fail("variables", f"Invalid variable names: {', '.join(map(str, bad[:5]))}.")
            project.variables = variables
    if "source_kind" in data:
        project.source_kind = str(data["source_kind"] or SourceKind.ARCHIVE)
        if project.source_kind not in SourceKind.values:
            fail("source_kind", "Choose archive or git.")
    if data.get("archive") is not None:
        raw = bytes(data["archive"])
        try:
            project.archive_files = check_archive(raw)
            project.archive = raw
            project.archive_sha256 = hashlib.sha256(raw).hexdigest()
        except SourceError as exc:
            fail("archive", str(exc))
    if project.source_kind == SourceKind.ARCHIVE and not project.archive and "archive" not in errors:
        fail("archive", "Upload a .tar.gz or .zip of the project's .tf files.")
    if project.source_kind == SourceKind.GIT:
        if project.git_connection is None and "git_connection" not in errors:
            fail("git_connection", "Choose the GitHub or GitLab connection that reads the repository.")
        try:
            project.git_url = check_git_url(project.git_url)
        except SourceError as exc:
            fail("git_url", str(exc))
    if any(part == ".." for part in project.git_subdirectory.split("/")) or project.git_subdirectory.startswith("/"):
        fail("git_subdirectory", "A relative path inside the source, without '..'.")
    try:
        project.full_clean(
            exclude=["org", "environment", "archive", "variables", "role", "connection"], validate_constraints=False
        )
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            for message in messages:
                fail(key, message)
    if (
        "name" not in errors
        and TerraformProject.objects.filter(org=org, name=project.name).exclude(pk=project.pk).exists()
    ):
        fail("name", f"A project named '{project.name}' already exists in {org.slug}.")
    if errors:
        raise ValidationError(errors)


def do_create_project(org: Organization, *, actor: Any, **data: Any) -> TerraformProject:
    check(actor, Action.MANAGE_PROJECTS, org)
    project = TerraformProject(org=org, created_by=_user(actor))
    _clean(org, project, {"source_kind": SourceKind.ARCHIVE, "variables": {}, **data})
    with transaction.atomic():
        project.save()
        record_event(
            org=org, action=AuditAction.PROJECT_CREATED, actor=actor, target=project,
            environment=project.environment.slug, details=_summary(project),
        )  # fmt: skip
    refresh_detection(project)
    return project


def do_update_project(project: TerraformProject, *, actor: Any, **data: Any) -> TerraformProject:
    check(actor, Action.MANAGE_PROJECTS, project)
    old_role = project.role
    _clean(project.org, project, {k: v for k, v in data.items() if k in EDITABLE})
    with transaction.atomic():
        project.save()
        record_event(
            org=project.org, action=AuditAction.PROJECT_UPDATED, actor=actor, target=project,
            environment=project.environment.slug, details={**_summary(project), "changed": sorted(data)},
        )  # fmt: skip
    refresh_detection(project)
    if old_role is not None and old_role.pk != project.role_id:
        refresh_role_detection(old_role)
    return project


def do_delete_project(project: TerraformProject, *, actor: Any) -> None:
    check(actor, Action.MANAGE_PROJECTS, project)
    active = TerraformRun.objects.filter(project=project, status__in=ACTIVE_STATUSES).exists()
    if active:
        raise ValidationError("A run of this project is queued or running: cancel it first.")
    role = project.role
    with transaction.atomic():
        record_event(
            org=project.org, action=AuditAction.PROJECT_DELETED, actor=actor, target=project,
            environment=project.environment.slug, details=_summary(project),
        )  # fmt: skip
        project.delete()
    if role is not None:
        refresh_role_detection(role)


def _summary(project: TerraformProject) -> dict[str, Any]:
    return {
        "name": project.name,
        "connection": project.connection.name if project.connection else "(automatic)",
        "provider": project.provider,
        "role": str(project.role) if project.role else "",
        "backend": project.backend_connection.name if project.backend_connection else "",
        "source": project.source_kind,
    }


def do_start_run(project: TerraformProject, *, actor: Any, kind: str) -> TerraformRun:
    """Queue a run; the Celery task executes it (after the commit). One apply/destroy at a time per project."""
    check(actor, Action.START_RUN, project)
    if kind not in RunKind.values:
        raise ValidationError({"kind": "Choose plan, apply or destroy."})
    _, label = actor_label(actor)
    run = TerraformRun(
        org=project.org, project=project, kind=kind, environment=project.environment.slug,
        connection=project.connection, created_by=_user(actor), created_by_label=label,
    )  # fmt: skip
    try:
        with transaction.atomic():
            run.save()
            record_event(
                org=project.org, action=AuditAction.PROJECT_RUN_QUEUED, actor=actor, target=project,
                environment=run.environment, details={"run": run.pk, "kind": kind},
            )  # fmt: skip
    except IntegrityError:
        current = TerraformRun.objects.filter(
            project=project, kind__in=[RunKind.APPLY, RunKind.DESTROY], status__in=ACTIVE_STATUSES
        ).first()
        which = f" (run #{current.pk})" if current else ""
        raise ValidationError(
            {"kind": f"An apply or destroy of this project is already queued or running{which}: one at a time."}
        ) from None
    send_on_commit(execute_run_task, run.pk)
    run.refresh_from_db()
    return run


def do_cancel_run(run: TerraformRun, *, actor: Any) -> TerraformRun:
    """A queued run is canceled at once; a running one is asked to stop (SIGTERM, then SIGKILL after the grace)."""
    check(actor, Action.START_RUN, run.project)
    if run.finished:
        raise ValidationError(f"Run #{run.pk} has already finished ({run.status}).")
    now = timezone.now()
    with transaction.atomic():
        TerraformRun.objects.filter(pk=run.pk).update(cancel_requested=True, updated_at=now)
        canceled = TerraformRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELED, finished_at=now, reason="Canceled before it started.", updated_at=now
        )
        record_event(
            org=run.org, action=AuditAction.PROJECT_RUN_CANCEL_REQUESTED, actor=actor, target=run.project,
            environment=run.environment, details={"run": run.pk, "was": run.status, "canceled_at_once": bool(canceled)},
        )  # fmt: skip
    run.refresh_from_db()
    return run
