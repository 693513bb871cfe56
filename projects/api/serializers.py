"""Serializers of the projects API. Types only: rules live in `projects.services`. Nothing secret here:
a project holds none, and run logs are masked when written."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from rest_framework import serializers

from ..choices import RunKind, SourceKind
from ..detection import missing_for
from ..models import RunLogLine, TerraformProject, TerraformRun


class ProjectSerializer(serializers.ModelSerializer):
    environment = serializers.CharField(source="environment.slug", read_only=True)
    connection = serializers.CharField(source="connection.name", read_only=True, allow_null=True)
    role = serializers.IntegerField(source="role_id", read_only=True, allow_null=True)
    backend_connection = serializers.CharField(source="backend_connection.name", read_only=True, allow_null=True)
    git_connection = serializers.CharField(source="git_connection.name", read_only=True, allow_null=True)
    missing_permissions = serializers.SerializerMethodField()

    class Meta:
        model = TerraformProject
        fields = [
            "id", "name", "description", "environment", "provider", "connection", "role", "backend_connection",
            "variables", "source_kind", "archive_sha256", "archive_files", "git_connection", "git_url", "git_ref",
            "git_subdirectory", "detected_types", "detected_permissions", "unmapped_types", "detection_error",
            "missing_permissions", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_missing_permissions(self, obj: TerraformProject) -> list[str]:
        return missing_for(obj)


class ProjectWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    environment = serializers.CharField(max_length=63, required=False)
    provider = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text="With no connection: select automatically for this provider.",
    )
    connection = serializers.CharField(max_length=63, required=False, allow_blank=True, allow_null=True)
    role = serializers.IntegerField(required=False, allow_null=True, help_text="Connection role id.")
    backend_connection = serializers.CharField(max_length=63, required=False, allow_blank=True, allow_null=True)
    variables = serializers.DictField(required=False, help_text="Non-secret Terraform variables.")
    source_kind = serializers.ChoiceField(choices=SourceKind.choices, required=False)
    archive_base64 = serializers.CharField(
        required=False, write_only=True, help_text="The .tar.gz or .zip of the .tf files, base64-encoded."
    )
    git_connection = serializers.CharField(max_length=63, required=False, allow_blank=True, allow_null=True)
    git_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    git_ref = serializers.CharField(max_length=255, required=False, allow_blank=True)
    git_subdirectory = serializers.CharField(max_length=255, required=False, allow_blank=True)

    def service_data(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        encoded = data.pop("archive_base64", None)
        if encoded is not None:
            try:
                data["archive"] = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise serializers.ValidationError({"archive_base64": ["Not valid base64."]}) from None
        return data


class RunSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.name", read_only=True)
    connection = serializers.CharField(source="connection.name", read_only=True, allow_null=True)

    class Meta:
        model = TerraformRun
        fields = [
            "id", "project", "kind", "status", "environment", "connection", "reason", "warnings", "exit_code",
            "created_at", "started_at", "finished_at", "duration_ms", "plan_add", "plan_change", "plan_destroy",
            "resources", "missing_permissions", "cancel_requested", "log_lines", "created_by_label",
        ]  # fmt: skip
        read_only_fields = fields


class RunCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RunKind.choices)


class LogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunLogLine
        fields = ["seq", "text"]


class LogSerializer(serializers.Serializer):
    status = serializers.CharField()
    finished = serializers.BooleanField()
    next_after = serializers.IntegerField(help_text="Pass as ?after= to get the following lines.")
    lines = LogLineSerializer(many=True)
