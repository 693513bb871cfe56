"""The GCS state backend (connections/providers/gcs_backend.py): the check reaches the bucket and writes under
the prefix with the referenced GCP connection's token, against tests/fakes/google.py."""

from __future__ import annotations

import pytest

from connections.providers import get_provider
from tests.connections.providers.checks_cloud import (
    SA_EMAIL,
    example,
    failed_check,
    gcp_identity,  # noqa: F401
    gcp_ref,
    make_ctx,
    run_check,
)
from tests.connections.providers.conftest import cleaned
from tests.fakes.google import (
    fake_google,  # noqa: F401
    fake_google_server,  # noqa: F401
)


def test_gcs_backend_bucket_reachable_and_prefix_writable(gcp_identity):
    config, secrets_ = example("gcs_backend", "cloud_connection")
    gcp_identity.add_bucket(config["bucket"], writers=[SA_EMAIL])

    result = run_check("gcs_backend", "cloud_connection", config, secrets_, make_ctx("gcs-state", ref=gcp_ref()))

    assert result.message == "Bucket reachable and gs://acme-terraform-state/platform writable."
    upload, delete = gcp_identity.requests[-2:]
    assert upload.method == "POST" and upload.query["uploadType"] == "media"
    assert upload.query["name"].startswith("platform/.platform-write-check-")
    assert delete.method == "DELETE" and delete.path.endswith(f"/o/{upload.query['name']}")
    assert gcp_identity.objects(config["bucket"]) == {}


def test_gcs_backend_missing_bucket_fails(gcp_identity):
    config, secrets_ = example("gcs_backend", "cloud_connection")

    failure = failed_check("gcs_backend", "cloud_connection", config, secrets_, make_ctx("gcs-state", ref=gcp_ref()))

    assert failure.reason == "The bucket acme-terraform-state does not exist."


def test_gcs_backend_read_only_bucket_fails_on_write(gcp_identity):
    config, secrets_ = example("gcs_backend", "cloud_connection")
    gcp_identity.add_bucket(config["bucket"], readers=[SA_EMAIL])

    failure = failed_check("gcs_backend", "cloud_connection", config, secrets_, make_ctx("gcs-state", ref=gcp_ref()))

    assert failure.reason.startswith("Cannot write gs://acme-terraform-state/platform/.platform-write-check-")
    assert "does not have storage.objects.create access" in failure.reason


# --- Materialization ----------------------------------------------------------------------------------


def test_gcs_backend_config() -> None:
    config, _ = cleaned("gcs_backend", "cloud_connection")
    assert get_provider("gcs_backend").backend_config(config) == {
        "bucket": "acme-terraform-state",
        "prefix": "platform",
    }
    with pytest.raises(ValueError, match="Invalid state path"):
        get_provider("gcs_backend").backend_config(config, state_name="../escape")
