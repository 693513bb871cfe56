"""GCR / Artifact Registry (connections/providers/gcr.py): the check logs in with the referenced GCP
connection's token, against tests/fakes/google.py."""

from __future__ import annotations

from tests.connections.providers.checks_cloud import (
    PROJECT,
    SA_EMAIL,
    example,
    failed_check,
    gcp_identity,  # noqa: F401
    gcp_ref,
    make_ctx,
    run_check,
)
from tests.fakes.google import (
    fake_google,  # noqa: F401
    fake_google_server,  # noqa: F401
)


def test_gcr_registry_login_with_the_gcp_token(gcp_identity):
    gcp_identity.add_project(PROJECT, members=[SA_EMAIL])
    config, secrets_ = example("gcr", "cloud_connection")

    result = run_check("gcr", "cloud_connection", config, secrets_, make_ctx("registry", ref=gcp_ref()))

    assert result.message == "Registry login to europe-west1-docker.pkg.dev works."
    login = gcp_identity.requests[-1]
    assert login.path == "/gcr/v2/token"
    assert login.query == {
        "service": "europe-west1-docker.pkg.dev",
        "scope": f"repository:{PROJECT}/platform-check:pull",
    }
    assert login.headers["Authorization"].startswith("Basic ")


def test_gcr_without_access_to_the_project_fails(gcp_identity):
    config, secrets_ = example("gcr", "cloud_connection")

    failure = failed_check("gcr", "cloud_connection", config, secrets_, make_ctx("registry", ref=gcp_ref()))

    assert failure.reason.startswith("europe-west1-docker.pkg.dev refused the GCP connection's credentials: DENIED:")
