"""Google Cloud: a service account JSON key, or workload identity federation (no stored secret)."""

from __future__ import annotations

import json
from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider

CREDENTIALS_FILE = "gcp-credentials.json"
OIDC_TOKEN_FILE = "gcp-oidc-token"


class GcpProvider(Provider):
    """GCP project connection.

    For ``workload_identity`` the runtime passes either the platform's OIDC token as ``oidc_token``
    in ``secrets`` (an external-account credentials file is written, and Google's libraries do the
    STS exchange and service account impersonation), or an already exchanged ``access_token``.
    """

    code = "gcp"
    label = "Google Cloud"
    category = "cloud"
    description = "Google Cloud projects through a service account key or workload identity federation."
    icon = "GCP"
    color = "#4285f4"
    test_description = "Token refresh, then a lookup of the project."
    auth_methods = (
        AuthMethod("service_account_key", "Service account key", "A JSON key file of a service account."),
        AuthMethod(
            "workload_identity",
            "Workload identity federation",
            "The platform's OIDC tokens impersonate a service account; no key is stored.",
            stores_secret=False,
        ),
    )
    fields = (
        Field("project_id", "Project ID", "string", validators=(v.gcp_project_id,), placeholder="my-project-123456"),
        Field("service_account_key", "Service account key (JSON)", "json", secret=True,
              validators=(v.gcp_service_account_key, v.gcp_key_project_id), auth_methods=("service_account_key",),
              help_text="The whole JSON key file downloaded from IAM > Service accounts > Keys."),
        Field("workload_identity_provider", "Workload identity provider", "string",
              validators=(v.gcp_workload_identity_provider,), auth_methods=("workload_identity",),
              placeholder="projects/123456789/locations/global/workloadIdentityPools/POOL/providers/PROVIDER"),
        Field("service_account_email", "Service account email", "string", validators=(v.gcp_service_account_email,),
              auth_methods=("workload_identity",), placeholder="runner@my-project.iam.gserviceaccount.com"),
    )  # fmt: skip
    summary_fields = ("project_id",)

    def _materialize(
        self,
        auth_method: str,
        config: dict[str, Any],
        secrets: dict[str, Any],
        *,
        ref: Materialized | None,
        ref_config: dict[str, Any],
    ) -> Materialized:
        out = Materialized()
        project = config["project_id"]
        for name in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_PROJECT", "CLOUDSDK_CORE_PROJECT"):
            out.set_env(name, project)
        if auth_method == "service_account_key":
            key = secrets["service_account_key"]
            content = key if isinstance(key, str) else json.dumps(key)
            out.set_env("GOOGLE_APPLICATION_CREDENTIALS", out.add_file(CREDENTIALS_FILE, content))
            return out
        if secrets.get("oidc_token"):
            token_file = out.add_file(OIDC_TOKEN_FILE, secrets["oidc_token"])
            out.sensitive.add(secrets["oidc_token"])
            external_account = {
                "type": "external_account",
                "audience": f"//iam.googleapis.com/{config['workload_identity_provider']}",
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "token_url": "https://sts.googleapis.com/v1/token",
                "service_account_impersonation_url": (
                    "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                    f"{config['service_account_email']}:generateAccessToken"
                ),
                "credential_source": {"file": token_file},
            }
            path = out.add_file(CREDENTIALS_FILE, json.dumps(external_account, indent=2), templated=True)
            out.set_env("GOOGLE_APPLICATION_CREDENTIALS", path)
        if secrets.get("access_token"):
            out.set_secret_env("GOOGLE_OAUTH_ACCESS_TOKEN", secrets["access_token"])
            out.set_secret_env("CLOUDSDK_AUTH_ACCESS_TOKEN", secrets["access_token"])
        return out
