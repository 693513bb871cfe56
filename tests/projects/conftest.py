"""Fixtures for projects: an AWS access-key connection in moto's account with a validated-able role,
archives of Terraform code, and the Terraform settings (real binary + plugin mirror, or a stand-in)."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import warnings
from pathlib import Path

import boto3
import pytest

from connections.models import Connection, ConnectionRole
from connections.role_validation import do_add_role
from projects import services
from projects.models import TerraformProject
from tests.connections.conftest import allow, create_connection, create_iam_role, trust_policy
from tests.fakes.moto_server import MOTO_ACCOUNT_ID, moto, moto_server  # noqa: F401

REAL_TERRAFORM = "/usr/local/bin/terraform"
PLUGIN_MIRROR = "/opt/tf-plugins"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CANARY = "worker-canary-7f3a9c1e5b"

MAIN_TF = """
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

provider "aws" {
  region            = "us-east-1"
  s3_use_path_style = true
}

variable "bucket" {
  type = string
}

variable "canary" {
  type    = string
  default = "absent"
}

data "aws_caller_identity" "me" {}

resource "aws_s3_bucket" "state" {
  bucket = var.bucket
}

output "account" {
  value = data.aws_caller_identity.me.account_id
}

output "canary" {
  value = var.canary
}
"""


def tar_gz(files: dict[str, bytes | str], *, links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


USED: set[str] = set()


def pytest_terminal_summary(terminalreporter) -> None:
    """Say at the end of the run which Terraform the projects tests used (CI prints it too)."""
    if USED:
        terminalreporter.write_line(f"projects tests ran with: {', '.join(sorted(USED))}", bold=True)


def terraform_available() -> bool:
    return os.access(REAL_TERRAFORM, os.X_OK) and os.path.isdir(PLUGIN_MIRROR)


STAND_IN = """#!/bin/sh
# Stand-in for terraform when the real one is absent: prints its environment's names and fakes the steps.
case "$1" in
  init) echo "Initializing (stand-in)"; env | cut -d= -f1 | sort | sed 's/^/env: /'; echo "key=$AWS_SECRET_ACCESS_KEY";;
  plan) echo "Plan: 1 to add, 0 to change, 0 to destroy."; [ -n "$STANDIN_SLEEP" ] && sleep "$STANDIN_SLEEP"; :;;
  show) if [ -n "$2" ] && [ "$2" = "-json" ] && [ -n "$4" ]; then
          echo '{"resource_changes":[{"change":{"actions":["create"]}}]}';
        else echo '{"values":{"root_module":{"resources":[{"mode":"managed","address":"aws_s3_bucket.x"}]}}}'; fi;;
  apply) echo "Apply complete! Resources: 1 added, 0 changed, 0 destroyed."
         echo "canary = \\"${TF_VAR_canary:-absent}\\"";;
esac
exit 0
"""


@pytest.fixture
def stand_in(tmp_path: Path) -> str:
    path = tmp_path / "terraform-stand-in"
    path.write_text(STAND_IN)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def tf_settings(settings, moto, tmp_path, stand_in) -> str:
    """Real Terraform with the plugin mirror when installed, else the stand-in (said loudly)."""
    settings.PLATFORM_AWS_ACCOUNT_ID = MOTO_ACCOUNT_ID
    settings.TERRAFORM_EXTRA_ENV = {"AWS_ENDPOINT_URL": moto}
    settings.TERRAFORM_WORK_DIR = str(tmp_path)
    if terraform_available():
        settings.TERRAFORM_BIN = REAL_TERRAFORM
        settings.TERRAFORM_PLUGIN_MIRROR = PLUGIN_MIRROR
        USED.add(f"REAL Terraform {REAL_TERRAFORM} (provider mirror {PLUGIN_MIRROR})")
        return "real"
    settings.TERRAFORM_BIN = stand_in
    settings.TERRAFORM_PLUGIN_MIRROR = ""
    USED.add("STAND-IN executable: Terraform is NOT installed here, no real apply ran")
    warnings.warn("Terraform is not installed: the projects tests use a stand-in executable", stacklevel=1)
    return "stand-in"


@pytest.fixture
def aws(org, members) -> Connection:
    """An access-key connection in moto's account, authorized for production."""
    return create_connection(
        org, "aws", name="aws-prod", auth_method="access_key", environments=("production",),
        config={"account_id": MOTO_ACCOUNT_ID, "region": "us-east-1"},
    )  # fmt: skip


def make_role(connection: Connection, members: dict, name: str = "tf-runner", *actions: str) -> ConnectionRole:
    iam = boto3.client("iam", region_name="us-east-1")
    arn = create_iam_role(
        iam, name, trust_policy(connection.external_id), inline={"run": allow(*(actions or ("s3:*", "sts:*")))}
    )
    return do_add_role(connection, actor=members["provisioner"], role_arn=arn)


@pytest.fixture
def role(aws, members, moto) -> ConnectionRole:
    return make_role(aws, members)


@pytest.fixture
def project(org, members, aws, role) -> TerraformProject:
    return services.do_create_project(
        org, actor=members["provisioner"], name="storage", environment="production", connection="aws-prod",
        role=role.pk, variables={"bucket": "platform-test-bucket"}, archive=tar_gz({"main.tf": MAIN_TF}),
    )  # fmt: skip


def cleanup(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def eager_tasks(monkeypatch) -> None:
    """The default runtime (no broker): tasks run in the request that sends them."""
    from projects.tasks import execute_run_task  # late import: the fixture patches the task's app

    monkeypatch.setitem(execute_run_task.app.conf, "task_always_eager", True)
    monkeypatch.setitem(execute_run_task.app.conf, "task_eager_propagates", True)
