"""Archive checks: absolute paths, '..', links and size are refused before anything is written."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import pytest
from django.core.exceptions import ValidationError

from projects import services
from projects.source import SourceError, check_archive, extract_archive, git_auth_env
from tests.projects.conftest import MAIN_TF, tar_gz

pytestmark = pytest.mark.django_db


def zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.tf", MAIN_TF)
        info = zipfile.ZipInfo("link.tf")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (tar_gz({"main.tf": MAIN_TF, "../evil.tf": "x"}), "'..'"),
        (tar_gz({"main.tf": MAIN_TF, "/etc/cron.d/evil": "x"}), "absolute path"),
        (tar_gz({"main.tf": MAIN_TF}, links={"secrets.tf": "/etc/shadow"}), "link"),
        (zip_with_symlink(), "link"),
        (tar_gz({"README.md": "no code"}), "no .tf file"),
        (b"not an archive at all", "Not a readable"),
    ],
)
def test_refused_archives(data, reason):
    with pytest.raises(SourceError, match=reason):
        check_archive(data)


def test_size_limit(settings):
    settings.PROJECT_ARCHIVE_MAX_BYTES = 1000
    with pytest.raises(SourceError, match="the limit is 1000 bytes"):
        check_archive(tar_gz({"main.tf": MAIN_TF, "big.bin": os.urandom(5000)}))


def test_zip_and_tar_extract_only_regular_files(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("infra/main.tf", MAIN_TF)
    extract_archive(buffer.getvalue(), str(tmp_path))
    assert (tmp_path / "infra" / "main.tf").read_text() == MAIN_TF
    assert oct((tmp_path / "infra" / "main.tf").stat().st_mode & 0o777) == "0o600"


def test_project_form_errors_are_field_level(org, members, aws, role):
    with pytest.raises(ValidationError) as caught:
        services.do_create_project(
            org, actor=members["admin"], name="x", environment="nope", connection="missing",
            archive=tar_gz({"../a.tf": "x"}),
        )  # fmt: skip
    errors = caught.value.message_dict
    assert set(errors) >= {"name", "environment", "connection", "archive"}
    assert "'..'" in errors["archive"][0]


def test_role_is_required_for_providers_with_roles(org, members, aws):
    with pytest.raises(ValidationError) as caught:
        services.do_create_project(
            org, actor=members["admin"], name="norole", environment="production", connection="aws-prod",
            archive=tar_gz({"main.tf": MAIN_TF}),
        )  # fmt: skip
    assert "needs a connection role" in caught.value.message_dict["role"][0]


def test_git_token_goes_in_the_environment_not_the_url():
    env = git_auth_env("x-access-token", "ghp_secret")
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert "ghp_secret" not in env["GIT_CONFIG_VALUE_0"]  # base64 inside the header value
