"""Detected permissions: python-hcl2 parsing, the shipped table, unmapped types, the role's fields."""

from __future__ import annotations

import pytest

from connections.models import ConnectionRole
from projects import services
from projects.detection import detect, missing
from projects.permissions_table import RESOURCE_ACTIONS
from tests.projects.conftest import MAIN_TF, tar_gz

pytestmark = pytest.mark.django_db


def test_table_covers_at_least_sixty_types():
    assert len([t for t in RESOURCE_ACTIONS if t.startswith(("aws_", "data.aws_"))]) >= 60


def test_detect_resources_data_sources_and_unmapped():
    found = detect({"main.tf": MAIN_TF + '\nresource "aws_shiny_new_thing" "x" {}\nresource "random_id" "r" {}\n'})
    assert "data.aws_caller_identity" in found.types and "aws_s3_bucket" in found.types
    assert "sts:GetCallerIdentity" in found.permissions and "s3:CreateBucket" in found.permissions
    assert found.unmapped == ["aws_shiny_new_thing"]
    assert found.error == ""


def test_syntax_error_is_reported_not_raised():
    found = detect({"broken.tf": 'resource "aws_s3_bucket" {'})
    assert found.error.startswith("broken.tf:")


def test_missing_honours_wildcards_and_denies():
    assert missing(["s3:CreateBucket", "ec2:RunInstances"], ["s3:*"]) == ["ec2:RunInstances"]
    assert missing(["s3:CreateBucket"], ["*"], ["s3:Create*"]) == ["s3:CreateBucket"]


def test_project_fills_the_roles_detected_and_missing_permissions(org, members, aws, role, moto):
    ConnectionRole.objects.filter(pk=role.pk).update(granted_permissions=["sts:*"])
    project = services.do_create_project(
        org, actor=members["provisioner"], name="det", environment="production", connection="aws-prod",
        role=role.pk, archive=tar_gz({"main.tf": MAIN_TF}),
    )  # fmt: skip
    role.refresh_from_db()
    assert "s3:CreateBucket" in role.detected_permissions and "sts:GetCallerIdentity" in role.detected_permissions
    assert "s3:CreateBucket" in role.missing_permissions and "sts:GetCallerIdentity" not in role.missing_permissions
    assert project.detected_permissions == role.detected_permissions
