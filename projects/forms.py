"""Forms of the project pages. Types and choices only; the rules are in `projects.services`."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings

from accounts.models import Environment, Organization
from connections.models import Connection, ConnectionRole
from connections.providers import REGISTRY

from .choices import RunKind, RunStatus, SourceKind


def _names(org: Organization, category: str) -> list[tuple[str, str]]:
    rows = Connection.objects.filter(org=org, category=category).order_by("name").values_list("name", "provider")
    return [(name, f"{name} ({REGISTRY[p].label if p in REGISTRY else p})") for name, p in rows]


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=63, help_text="3-63 lowercase letters, digits and dashes.")
    description = forms.CharField(max_length=500, required=False)
    environment = forms.ChoiceField()
    connection = forms.ChoiceField(required=False, help_text="Empty: selected automatically for the environment.")
    provider = forms.ChoiceField(required=False, help_text="For automatic selection: which cloud.")
    role = forms.ChoiceField(required=False, help_text="The identity Terraform works as (AWS and Azure).")
    backend_connection = forms.ChoiceField(required=False, label="State backend")
    variables = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, initial="{}",
        help_text='Non-secret variables as JSON, e.g. {"bucket": "logs"}.',
    )  # fmt: skip
    source_kind = forms.ChoiceField(choices=SourceKind.choices, label="Source")
    archive = forms.FileField(required=False, help_text="A .tar.gz or .zip of the .tf files.")
    git_connection = forms.ChoiceField(required=False, label="Git connection")
    git_url = forms.CharField(max_length=500, required=False, label="Repository URL (https)")
    git_ref = forms.CharField(max_length=255, required=False, label="Branch or tag")
    git_subdirectory = forms.CharField(max_length=255, required=False, label="Subdirectory")

    def __init__(self, *args: Any, org: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = list(
            Environment.objects.filter(org=org).order_by("slug").values_list("slug", "name")
        )
        self.fields["connection"].choices = [("", "Automatic"), *_names(org, "cloud")]
        self.fields["provider"].choices = [("", "-")] + [
            (code, spec.label) for code, spec in REGISTRY.items() if spec.category == "cloud"
        ]
        roles = ConnectionRole.objects.filter(org=org).select_related("connection").order_by("connection__name", "pk")
        self.fields["role"].choices = [("", "-")] + [(str(r.pk), f"{r.connection.name}: {r.name or r}") for r in roles]
        backends = _names(org, "state_backend")
        self.fields["backend_connection"].choices = [("", "None (state kept by the platform)"), *backends]
        self.fields["git_connection"].choices = [("", "-"), *_names(org, "git")]
        limit = int(settings.PROJECT_ARCHIVE_MAX_BYTES)
        self.fields["archive"].help_text += f" At most {limit // 1024} KiB; no links, absolute paths or '..'."

    def clean_variables(self) -> dict[str, Any]:
        text = self.cleaned_data.get("variables") or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Use a JSON object of name: value.")
        return value

    def service_data(self, *, editing: bool = False) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        upload = data.pop("archive", None)
        if upload:
            data["archive"] = upload.read(int(settings.PROJECT_ARCHIVE_MAX_BYTES) + 1)
        for key in ("connection", "backend_connection", "git_connection", "role"):
            data[key] = data.get(key) or None
        return data


class StartRunForm(forms.Form):
    kind = forms.ChoiceField(choices=RunKind.choices)


class RunFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *RunStatus.choices], required=False)
    kind = forms.ChoiceField(choices=[("", "Any kind"), *RunKind.choices], required=False)
