"""Project pages: the create form with an upload (field errors on a refused archive), edit, start a run
from the page, delete."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import TerraformProject, TerraformRun
from tests.projects.conftest import MAIN_TF, tar_gz

pytestmark = pytest.mark.django_db


def form(role_id: int, archive: bytes, **extra: str) -> dict:
    return {
        "name": "web", "environment": "production", "connection": "aws-prod", "role": str(role_id),
        "variables": '{"bucket": "web-bucket"}', "source_kind": "archive",
        "archive": SimpleUploadedFile("code.tar.gz", archive, content_type="application/gzip"), **extra,
    }  # fmt: skip


def test_create_edit_run_and_delete_through_the_pages(org, members, aws, role, client_as, monkeypatch):
    monkeypatch.setattr("projects.services.send_on_commit", lambda *a, **k: None)
    client = client_as("provisioner")
    refused = client.post(f"/o/{org.slug}/projects/new/", form(role.pk, tar_gz({"../x.tf": "x"})))
    assert refused.status_code == 200 and "path with &#x27;..&#x27;" in refused.content.decode()
    created = client.post(f"/o/{org.slug}/projects/new/", form(role.pk, tar_gz({"main.tf": MAIN_TF})))
    assert created.status_code == 302 and created["Location"] == f"/o/{org.slug}/projects/web/"
    project = TerraformProject.objects.get(name="web")
    assert project.variables == {"bucket": "web-bucket"} and "s3:CreateBucket" in project.detected_permissions
    detail = client.get(f"/o/{org.slug}/projects/web/").content.decode()
    assert "Detected permissions" in detail and "sts:GetCallerIdentity" in detail
    edit = client.post(f"/o/{org.slug}/projects/web/edit/", {**form(role.pk, b""), "archive": "", "description": "d"})
    assert edit.status_code == 302
    project.refresh_from_db()
    assert project.description == "d" and project.archive_files == ["main.tf"]  # the archive was kept
    started = client_as("user").post(f"/o/{org.slug}/projects/web/runs/", {"kind": "apply"})
    run = TerraformRun.objects.get(project=project)
    assert started["Location"] == f"/o/{org.slug}/projects/web/runs/{run.pk}/"
    again = client_as("user").post(f"/o/{org.slug}/projects/web/runs/", {"kind": "apply"}, follow=True)
    assert "one at a time" in again.content.decode()
    blocked = client.post(f"/o/{org.slug}/projects/web/delete/", {"confirm": "on"})
    assert blocked.status_code == 200 and "cancel it first" in blocked.content.decode()
    client_as("user").post(f"/o/{org.slug}/projects/web/runs/{run.pk}/cancel/", {"confirm": "on"})
    deleted = client.post(f"/o/{org.slug}/projects/web/delete/", {"confirm": "on"})
    assert deleted.status_code == 302 and not TerraformProject.objects.filter(name="web").exists()
