"""Runs tag what they create: the override / provider file generator, and a real apply on moto whose
bucket carries the project and environment tags (the user's own default tags kept)."""

from __future__ import annotations

import io
import os
import subprocess

import boto3
import hcl2
import pytest

from projects import services
from projects.choices import RunStatus
from projects.models import RunLogLine
from projects.tagging import OVERRIDE_FILE, PROVIDER_FILE, hcl_string, tag_file
from tests.projects.conftest import MAIN_TF, REAL_TERRAFORM, tar_gz

TAGGED = "aws"  # the Terraform provider whose default_tags the AWS provider spec names


def parse(text: str) -> dict:
    return hcl2.load(io.StringIO(text))


def hcl_is_valid(text: str, tmp_path) -> None:
    """Terraform's own parser accepts the file (`terraform fmt` parses without init), when installed."""
    if not os.access(REAL_TERRAFORM, os.X_OK):
        return
    path = tmp_path / "check.tf"
    path.write_text(text)
    result = subprocess.run([REAL_TERRAFORM, "fmt", "-no-color", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def tags_of(text: str) -> list[tuple[str | None, object]]:
    out = []
    for entry in parse(text)["provider"]:
        body = next(iter(entry.values()))
        out.append((body.get("alias"), body["default_tags"][0]["tags"]))
    return out


def test_provider_block_gets_an_override_file_with_the_tags(tmp_path):
    found = tag_file({"main.tf": MAIN_TF}, TAGGED, "storage", "production")
    assert found.name == OVERRIDE_FILE and found.name.endswith("_override.tf")
    assert tags_of(found.text) == [(None, {"project": "storage", "environment": "production"})]
    hcl_is_valid(found.text, tmp_path)


def test_no_provider_block_but_resources_gets_a_provider_file(tmp_path):
    code = 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n'
    found = tag_file({"main.tf": code}, TAGGED, "storage", "staging")
    assert found.name == PROVIDER_FILE and not found.name.endswith("_override.tf")
    assert tags_of(found.text) == [(None, {"project": "storage", "environment": "staging"})]
    hcl_is_valid(found.text, tmp_path)


def test_nothing_for_other_providers_or_code_without_resources_of_the_provider():
    assert tag_file({"main.tf": 'resource "google_storage_bucket" "b" {}\n'}, TAGGED, "p1", "e").name == ""
    assert tag_file({"main.tf": MAIN_TF}, None, "p1", "e").name == ""
    assert tag_file({"main.tf": "this is { not hcl"}, TAGGED, "p1", "e").name == ""


def test_user_default_tags_are_kept_and_platform_keys_win(tmp_path, settings):
    settings.FINOPS_PROJECT_TAG = "cost-project"
    code = """
provider "aws" {
  region = "us-east-1"
  default_tags {
    tags = {
      owner          = "team-a"
      "cost-project" = "spoofed"
      built_by       = "${var.who}"
    }
  }
}
provider "aws" {
  alias  = "west"
  region = "us-west-2"
  default_tags {
    tags = var.common_tags
  }
}
provider "aws" {
  alias  = "plain"
  region = "eu-west-1"
}
"""
    found = tag_file({"main.tf": code}, TAGGED, "storage", "production")
    assert found.name == OVERRIDE_FILE
    assert found.aliases == [None, "west", "plain"]
    tags = dict(tags_of(found.text))
    assert tags[None] == {"owner": "team-a", "cost-project": "storage", "built_by": "${var.who}",
                          "environment": "production"}  # fmt: skip
    assert tags["west"] == '${merge(var.common_tags, {"cost-project": "storage", "environment": "production"})}'
    assert tags["plain"] == {"cost-project": "storage", "environment": "production"}
    assert 'built_by" = var.who' in found.text  # the user's expression, not a string
    hcl_is_valid(found.text, tmp_path)


@pytest.mark.parametrize(
    "hostile",
    ['x" } resource "null" "pwn" { a = "', "${file(\"/etc/passwd\")}", "%{ for x in [1] }${x}%{ endfor }",
     "line\nbreak", "back\\slash", "ünïcode ☃"],
)  # fmt: skip
def test_hostile_values_stay_literal_strings(hostile, tmp_path):
    found = tag_file({"main.tf": MAIN_TF}, TAGGED, hostile, hostile)
    body = parse(found.text)
    assert len(body["provider"]) == 1 and "resource" not in body
    # `${` / `%{` escaped: Terraform reads the literal text, never evaluates it.
    assert "${file" not in found.text.replace("$${", "")
    assert hcl_string("a${b}%{c}") == '"a$${b}%%{c}"'
    hcl_is_valid(found.text, tmp_path)


TAGGED_TF = MAIN_TF.replace(
    "  s3_use_path_style = true\n",
    '  s3_use_path_style = true\n  default_tags {\n    tags = {\n      owner   = "team-a"\n'
    '      project = "spoofed"\n    }\n  }\n',
)


@pytest.mark.django_db
def test_a_real_apply_tags_the_bucket_with_project_and_environment(org, members, aws, role, tf_settings):
    assert "default_tags" in TAGGED_TF
    project = services.do_create_project(
        org, actor=members["provisioner"], name="tagged-storage", environment="production", connection="aws-prod",
        role=role.pk, variables={"bucket": "platform-tagged-bucket"}, archive=tar_gz({"main.tf": TAGGED_TF}),
    )  # fmt: skip
    run = services.do_start_run(project, actor=members["user"], kind="apply")
    run.refresh_from_db()
    log = "\n".join(RunLogLine.objects.filter(run=run).order_by("seq").values_list("text", flat=True))
    assert run.status == RunStatus.SUCCEEDED, (run.reason, log)
    assert f"Written as {OVERRIDE_FILE}" in log
    if tf_settings != "real":
        pytest.skip("Terraform is not installed: the bucket's tags were not checked")
    s3 = boto3.client("s3", region_name="us-east-1")
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="platform-tagged-bucket")["TagSet"]}
    assert tags == {"project": "tagged-storage", "environment": "production", "owner": "team-a"}


def test_the_users_own_override_file_is_read_after_the_main_files():
    files = {
        "a_override.tf": 'provider "aws" {\n  default_tags {\n    tags = { team = "override" }\n  }\n}\n',
        "main.tf": 'provider "aws" {\n  default_tags {\n    tags = { team = "main" }\n  }\n}\n',
    }
    found = tag_file(files, TAGGED, "storage", "production")
    assert tags_of(found.text) == [(None, {"team": "override", "project": "storage", "environment": "production"})]
