"""Detected permissions: what a project's Terraform code needs, from its resource and data types.

The code is parsed with python-hcl2 (a syntax error is reported on the project, not raised), each
type is looked up in `permissions_table.RESOURCE_ACTIONS`, and types of a covered provider that the
table does not know are listed as unmapped, so nobody mistakes "nothing detected" for "nothing needed".
"""

from __future__ import annotations

import fnmatch
import io
from dataclasses import dataclass, field

import hcl2

from connections.models import ConnectionRole

from .choices import SourceKind
from .models import TerraformProject
from .permissions_table import COVERED_PREFIXES, RESOURCE_ACTIONS
from .source import archive_tf_files


@dataclass
class Detection:
    types: list[str] = field(default_factory=list)
    permissions: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    error: str = ""


def _types(parsed: dict) -> set[str]:
    found: set[str] = set()
    for block in parsed.get("resource", []) or []:
        found.update(block.keys())
    for block in parsed.get("data", []) or []:
        found.update(f"data.{name}" for name in block)
    return {name.strip('"') for name in found}


def detect(files: dict[str, str]) -> Detection:
    """Parse every `.tf` text; return the types, the IAM actions they need and the unmapped types."""
    types: set[str] = set()
    errors: list[str] = []
    for name, text in sorted(files.items()):
        try:
            types |= _types(hcl2.load(io.StringIO(text)))
        except Exception as exc:  # python-hcl2 raises lark errors of many classes
            first = str(exc).strip().splitlines()[:1] or [exc.__class__.__name__]
            errors.append(f"{name}: {first[0][:200]}")
    actions: set[str] = set()
    unmapped: list[str] = []
    for type_name in sorted(types):
        if type_name in RESOURCE_ACTIONS:
            actions.update(RESOURCE_ACTIONS[type_name])
        elif type_name.removeprefix("data.").startswith(COVERED_PREFIXES):
            unmapped.append(type_name)
    return Detection(
        types=sorted(types),
        permissions=sorted(actions, key=lambda a: (a.lower(), a)),
        unmapped=unmapped,
        error="; ".join(errors)[:1000],
    )


def _covers(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` and `?` wildcards."""

    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def missing(detected: list[str], granted: list[str], denied: list[str] | None = None) -> list[str]:
    """Detected actions no granted pattern covers (or that an explicit deny covers)."""
    out = []
    for action in detected:
        allowed = any(_covers(p, action) for p in granted if not p.startswith("* except"))
        if not allowed or any(_covers(p, action) for p in denied or ()):
            out.append(action)
    return out


def refresh_detection(project: TerraformProject, files: dict[str, str] | None = None) -> None:
    """Detected permissions from the code (archive now, Git at each run), onto the project and its role."""
    if files is None:
        if project.source_kind != SourceKind.ARCHIVE or not project.archive:
            return
        files = archive_tf_files(bytes(project.archive), project.git_subdirectory)
    found = detect(files)
    TerraformProject.objects.filter(pk=project.pk).update(
        detected_types=found.types,
        detected_permissions=found.permissions,
        unmapped_types=found.unmapped,
        detection_error=found.error,
    )
    project.detected_types, project.detected_permissions = found.types, found.permissions
    project.unmapped_types, project.detection_error = found.unmapped, found.error
    if project.role_id:
        refresh_role_detection(project.role)


def refresh_role_detection(role: ConnectionRole) -> None:
    """The role's detected permissions are the union over its projects; missing = detected - granted."""
    needed: set[str] = set()
    for perms in TerraformProject.objects.filter(role=role).values_list("detected_permissions", flat=True):
        needed.update(perms or [])
    detected = sorted(needed, key=lambda a: (a.lower(), a))
    gaps = missing(detected, list(role.granted_permissions), list(role.denied_permissions))
    ConnectionRole.objects.filter(pk=role.pk).update(detected_permissions=detected, missing_permissions=gaps)


def missing_for(project: TerraformProject) -> list[str]:
    if project.role is None:
        return []
    return missing(
        project.detected_permissions, list(project.role.granted_permissions), list(project.role.denied_permissions)
    )
