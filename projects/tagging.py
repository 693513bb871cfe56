"""Runs tag what they create: the provider's default tags carry the project and the environment.

Cost is attributed to a project by a tag on the cloud resources (FinOps reads FINOPS_PROJECT_TAG and
FINOPS_ENVIRONMENT_TAG from the bill). Before `terraform init` the platform writes one file into the
run's working directory, using Terraform's own mechanisms and never editing the customer's files:

- the code has provider blocks of the tagging provider (the provider spec's
  `terraform_default_tags_provider`, with or without `alias`): `zz_platform_override.tf`, an override
  file with one matching block per alias carrying `default_tags`. Override files merge into the
  original blocks argument by argument, but a nested block in an override REPLACES every nested block
  of that type in the original (Terraform docs, "Override Files": "any nested blocks within an
  override block replace all blocks of the same type in the original block"). So the user's own
  `default_tags` tags are read (python-hcl2) and written back merged with the platform's, which win
  on the two platform keys (a user-set `project` tag would otherwise break attribution);
- no such provider block but resources or data sources of that provider: `zz_platform_provider.tf`,
  a plain provider block with the tags (Terraform would otherwise use an empty implicit one);
- neither (or a provider without the mechanism): nothing is written.

Values are HCL string literals: JSON strings (a JSON string is a valid HCL quoted string) with the
template sequences `${` and `%{` escaped as `$${` and `%%{`, so a value is never evaluated. The
user's own values are kept as they wrote them: a whole expression (`var.tags`, `"${var.owner}"`) is
written back as that expression.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from typing import Any

import hcl2
from django.conf import settings

OVERRIDE_FILE = "zz_platform_override.tf"
PROVIDER_FILE = "zz_platform_provider.tf"

__all__ = ["OVERRIDE_FILE", "PROVIDER_FILE", "TagFile", "platform_tags", "tag_file", "write_tag_file"]


@dataclass
class TagFile:
    """What to write: a file name and its text (or nothing), and why, for the run's log."""

    name: str = ""
    text: str = ""
    note: str = ""
    aliases: list[str | None] = field(default_factory=list)


def hcl_string(value: str) -> str:
    """An HCL quoted-string literal whose value is exactly `value` (no interpolation, no directive)."""
    return json.dumps(str(value)).replace("${", "$${").replace("%{", "%%{")


def _user_value(value: Any) -> str:
    """The user's own tag value as HCL: a whole `${expr}` back to `expr`, a literal as a string."""
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}") and value.count("${") == 1:
            return value[2:-1]
        # A literal, or a template mixing text and interpolations: kept as the user wrote it.
        return json.dumps(value)
    return json.dumps(value)


def platform_tags(project_name: str, environment_slug: str) -> dict[str, str]:
    return {
        str(settings.FINOPS_PROJECT_TAG): project_name,
        str(settings.FINOPS_ENVIRONMENT_TAG): environment_slug,
    }


def _unquote(name: str) -> str:
    return str(name).strip('"')


def _is_override(name: str) -> bool:
    return name == "override.tf" or name.endswith("_override.tf")


def _parse(files: dict[str, str]) -> list[dict[str, Any]]:
    """Parsed files in Terraform's order: ordinary files, then override files (lexically), so a later
    block of the same provider and alias stands for the user's effective default tags."""
    parsed = []
    for _name, text in sorted(files.items(), key=lambda item: (_is_override(item[0]), item[0])):
        try:
            parsed.append(hcl2.load(io.StringIO(text)))
        except Exception:  # noqa: S112 - a syntax error is Terraform's to report, in its own words
            continue
    return parsed


def _provider_blocks(parsed: list[dict[str, Any]], provider: str) -> list[dict[str, Any]]:
    blocks = []
    for document in parsed:
        for entry in document.get("provider", []) or []:
            for name, body in entry.items():
                if _unquote(name) == provider:
                    blocks.append(body if isinstance(body, dict) else {})
    return blocks


def _uses(parsed: list[dict[str, Any]], provider: str) -> bool:
    prefix = f"{provider}_"
    for document in parsed:
        for kind in ("resource", "data"):
            for entry in document.get(kind, []) or []:
                if any(_unquote(t) == provider or _unquote(t).startswith(prefix) for t in entry):
                    return True
    return False


def _user_tags(block: dict[str, Any]) -> dict[str, str] | str:
    """The block's own default tags: `{key: HCL}` for an object literal, or one HCL expression."""
    found: dict[str, str] = {}
    for nested in block.get("default_tags", []) or []:
        tags = nested.get("tags") if isinstance(nested, dict) else None
        if isinstance(tags, str) and tags.startswith("${") and tags.endswith("}"):
            return tags[2:-1]
        if isinstance(tags, dict):
            found.update({_unquote(k): _user_value(v) for k, v in tags.items()})
    return found


def _tags_expression(user: dict[str, str] | str, ours: dict[str, str]) -> str:
    ours_hcl = {hcl_string(k): hcl_string(v) for k, v in ours.items()}
    if isinstance(user, str):  # the user's tags are an expression: merged with Terraform's own merge()
        pairs = ", ".join(f"{k} = {v}" for k, v in ours_hcl.items())
        return f"merge({user}, {{ {pairs} }})"
    merged = {hcl_string(k): v for k, v in user.items() if k not in ours}
    merged.update(ours_hcl)
    lines = "".join(f"      {k} = {v}\n" for k, v in merged.items())
    return "{\n" + lines + "    }"


def _block(provider: str, alias: str | None, tags: str, extra: str = "") -> str:
    alias_line = f"  alias = {hcl_string(alias)}\n" if alias else ""
    return f"provider {hcl_string(provider)} {{\n{alias_line}{extra}  default_tags {{\n    tags = {tags}\n  }}\n}}\n"


HEADER = "# Written by the platform for this run: cost attribution tags (project, environment).\n"


def tag_file(files: dict[str, str], provider: str | None, project_name: str, environment_slug: str) -> TagFile:
    """The file that makes `provider`'s resources carry the platform tags, for these `.tf` texts."""
    if not provider:
        return TagFile(note="")
    parsed = _parse(files)
    ours = platform_tags(project_name, environment_slug)
    blocks = _provider_blocks(parsed, provider)
    if blocks:
        by_alias: dict[str | None, dict[str, str] | str] = {}
        for block in blocks:
            alias = block.get("alias")
            by_alias[_unquote(alias) if isinstance(alias, str) else None] = _user_tags(block)
        text = HEADER + "\n".join(_block(provider, a, _tags_expression(u, ours)) for a, u in by_alias.items())
        return TagFile(OVERRIDE_FILE, text, f"Tagging with {', '.join(sorted(ours))} (override file).",
                       list(by_alias))  # fmt: skip
    if _uses(parsed, provider):
        text = HEADER + _block(provider, None, _tags_expression({}, ours))
        return TagFile(PROVIDER_FILE, text, f"Tagging with {', '.join(sorted(ours))} (provider block).", [None])
    return TagFile(note="")


def write_tag_file(
    workdir: str, files: dict[str, str], provider: str | None, project: str, environment: str
) -> TagFile:
    """Write the tag file into the run's working directory (if one is needed); return what was written."""
    found = tag_file(files, provider, project, environment)
    if found.name:
        with open(os.path.join(workdir, found.name), "w", encoding="utf-8") as handle:
            handle.write(found.text)
    return found
