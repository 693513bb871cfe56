"""Google Cloud: a service account JSON key, or workload identity federation (no stored secret)."""

from __future__ import annotations

import functools
import json
import re
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from google.auth.exceptions import GoogleAuthError, RefreshError, TransportError
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from core.masking import scrub
from core.netguard import NetguardError

from .. import validators as v
from ..base import AuthMethod, Field, FieldError, Materialized, Provider, federation_panel
from ..contract import CheckContext, CheckFailed, CheckResult, endpoint
from ..run import RefreshingFile, RunContext, RunSetup

CREDENTIALS_FILE = "gcp-credentials.json"
OIDC_TOKEN_FILE = "gcp-oidc-token"

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
#: A test token only has to live for the few requests of the test.
CHECK_TOKEN_LIFETIME = "300s"


# --------------------------------------------------------------------------------------------------
# Connection test helpers (shared by GCR and the GCS backend, which borrow a GCP connection)
# --------------------------------------------------------------------------------------------------


def google_error(response: Any) -> str:
    """Google's own words from an error response: ``{"error": {"message"}}`` (APIs) or OAuth's
    ``{"error", "error_description"}``; the HTTP status when the body says nothing usable."""
    try:
        body = response.json()
    except Exception:  # a proxy's HTML error page: the status is all we can honestly report
        body = None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            description = body.get("error_description")
            return f"{error}: {description}" if description else error
    return f"HTTP {response.status}"


def google_request(ctx: Any, method: str, url: str, *, what: str, token: str = "", **kwargs: Any) -> Any:
    """One call to a Google API through the guarded client; transport failures become `CheckFailed`.

    Status handling is left to the caller, which knows what a 403 or 404 means at its step.
    """
    headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        return ctx.request(method, url, headers=headers, **kwargs)
    except NetguardError as exc:
        raise CheckFailed(scrub(f"Could not reach {what}: {exc}", token)) from None


def _json_body(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"headers": {"Content-Type": "application/json"}, "body": json.dumps(data).encode()}


def _form_body(data: Mapping[str, str]) -> dict[str, Any]:
    return {"headers": {"Content-Type": "application/x-www-form-urlencoded"}, "body": urlencode(data).encode()}


def service_account_token(key: Any, ctx: Any) -> tuple[str, str]:
    """An access token from a service account key (JWT bearer grant through google-auth).

    The key's own ``token_uri`` is replaced by the platform's configured endpoint: a key file is user
    input, and honouring its token_uri would let a crafted key send our signed assertions anywhere.
    Returns the token and the service account email.
    """

    try:
        info = json.loads(key) if isinstance(key, str) else dict(key)
        info["token_uri"] = ctx.endpoint("gcp_token")
        credentials = service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM_SCOPE])
    except (ValueError, TypeError, KeyError):
        raise CheckFailed("The service account key cannot be read; upload the whole JSON key file again.") from None
    try:
        credentials.refresh(_token_transport(ctx.timeout))
    except RefreshError as exc:
        reason = exc.args[0] if exc.args else "the token request was refused"
        raise CheckFailed(scrub(f"Google refused the service account key: {reason}", key)) from None
    except (TransportError, GoogleAuthError) as exc:
        where = info["token_uri"]
        raise CheckFailed(
            scrub(f"Could not reach Google's token endpoint at {where} ({_transport_cause(exc)}).", key)
        ) from None
    return str(credentials.token), str(info.get("client_email") or "")


_ERRNO = re.compile(r"\[Errno -?\d+\] [^\"')]+")


def _transport_cause(exc: BaseException) -> str:
    """The OS-level cause ("[Errno 111] Connection refused") of requests' nested connection error, if any.
    requests wraps it three deep in text that repeats pool internals; the cause is what an operator needs.
    """
    match = _ERRNO.search(str(exc))
    return match.group(0).strip() if match else type(exc).__name__


def _token_transport(timeout: float) -> Any:
    """google-auth's requests transport bounded by the check's time budget (its default waits two minutes)."""

    return functools.partial(Request(), timeout=timeout)


def workload_identity_token(config: Mapping[str, Any], ctx: Any) -> tuple[str, str]:
    """An access token for the configured service account through workload identity federation.

    Done with two plain HTTP calls (not google-auth's ``identity_pool``) so both go through the guarded
    client with the check's time budget, and each step's failure can be reported in Google's words:
    STS token exchange of a fresh platform assertion, then IAM Credentials ``generateAccessToken``.
    The assertion's audience is the provider's canonical name, which Google accepts by default.
    """
    if ctx.sign_assertion is None:
        raise CheckFailed("The platform's OIDC issuer is not configured, so no assertion can be signed.")
    audience = f"//iam.googleapis.com/{config['workload_identity_provider']}"
    assertion = ctx.sign_assertion(audience)
    exchange = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "audience": audience,
        "scope": CLOUD_PLATFORM_SCOPE,
        "requested_token_type": ACCESS_TOKEN_TYPE,
        "subject_token": assertion,
        "subject_token_type": JWT_TOKEN_TYPE,
    }
    response = google_request(ctx, "POST", ctx.endpoint("gcp_sts"), what="Google STS", **_form_body(exchange))
    if response.status != 200:
        reason = scrub(google_error(response), assertion)
        raise CheckFailed(f"Google STS refused the platform's assertion: {reason}")
    federated = str(response.json().get("access_token") or "")
    email = str(config["service_account_email"])
    url = f"{ctx.endpoint('gcp_iam_credentials')}/v1/projects/-/serviceAccounts/{quote(email)}:generateAccessToken"
    body = _json_body({"scope": [CLOUD_PLATFORM_SCOPE], "lifetime": CHECK_TOKEN_LIFETIME})
    response = google_request(ctx, "POST", url, what="Google IAM Credentials", token=federated, **body)
    if response.status != 200:
        reason = scrub(google_error(response), federated, assertion)
        raise CheckFailed(f"Cannot impersonate {email}: {reason}")
    return str(response.json().get("accessToken") or ""), email


def access_token(auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any) -> tuple[str, str]:
    """An OAuth access token and the identity it belongs to, for either GCP auth method."""
    if auth_method == "service_account_key":
        return service_account_token(secrets.get("service_account_key") or "", ctx)
    if auth_method == "workload_identity":
        return workload_identity_token(config, ctx)
    raise CheckFailed(f"Unknown GCP auth method {auth_method!r}.")


def lookup_project(project_id: str, token: str, ctx: Any) -> dict[str, Any]:
    """Resource Manager ``projects.get``: proves the identity can see the declared project.

    Google answers 403 both for a project that does not exist and for one the caller may not see,
    so the reason keeps Google's message and names the project.
    """
    url = f"{ctx.endpoint('gcp_resource_manager')}/v1/projects/{quote(project_id, safe='')}"
    response = google_request(ctx, "GET", url, what="Google Resource Manager", token=token)
    if response.status != 200:
        reason = scrub(google_error(response), token)
        raise CheckFailed(f"Project {project_id}: {reason}", details={"status": response.status})
    data = response.json()
    return data if isinstance(data, dict) else {}


def referenced_token(ctx: Any) -> tuple[str, Mapping[str, Any]]:
    """An access token of the GCP connection a GCR/GCS connection borrows (``ctx.ref``), and its config."""
    ref = ctx.ref
    if ref is None or ref.provider != "gcp":
        raise CheckFailed("The referenced GCP connection could not be loaded.")
    token, _identity = access_token(ref.auth_method, ref.config, ref.secrets, ctx)
    return token, ref.config


_BIGQUERY_TABLE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_-]{1,1024}$")


def bigquery_table(value: str) -> str:
    """`project.dataset.table`: the billing export table (also quoted into SQL, so nothing else is allowed)."""
    if value and not _BIGQUERY_TABLE.fullmatch(value):
        raise FieldError("Use project.dataset.table (letters, digits, dashes in the project, underscores).")
    return value
def external_account_info(config: Mapping[str, Any], token_file: str) -> dict[str, Any]:
    """An ``external_account`` credentials document: Google's libraries (google-auth, gcloud, Terraform's
    google provider) read the platform token from `token_file`, exchange it at STS and impersonate the
    service account. The endpoints are the platform's configured ones (`gcp_sts`, `gcp_iam_credentials`)."""
    info: dict[str, Any] = {
        "type": "external_account",
        "audience": f"//iam.googleapis.com/{config['workload_identity_provider']}",
        "subject_token_type": JWT_TOKEN_TYPE,
        "token_url": endpoint("gcp_sts"),
        "credential_source": {"file": token_file},
    }
    if config.get("service_account_email"):
        info["service_account_impersonation_url"] = (
            f"{endpoint('gcp_iam_credentials')}/v1/projects/-/serviceAccounts/"
            f"{config['service_account_email']}:generateAccessToken"
        )
    return info


def run_check_context(ctx: RunContext) -> CheckContext:
    """A check context for calls the platform makes itself while setting up a run (GCR's registry login)."""
    return CheckContext(
        org_slug=ctx.org_slug,
        connection_name=ctx.connection_name,
        timeout=ctx.timeout,
        sign_assertion=(lambda audience: ctx.sign(audience)) if ctx.sign_assertion else None,
    )


class GcpProvider(Provider):
    """GCP project connection.

    For ``workload_identity`` the runtime passes either the platform's OIDC token as ``oidc_token``
    in ``secrets`` (an external-account credentials file is written, and Google's libraries do the
    STS exchange and service account impersonation), or an already exchanged ``access_token``.
    """

    code = "gcp"
    terraform_prefixes = ("google_",)
    resource_kinds = (
        "GCP", "Google Cloud", "GKE", "Cloud SQL", "Cloud Run", "Cloud Storage", "Compute Engine", "BigQuery",
        "Pub/Sub", "Cloud Functions",
    )
    endpoints = {
        "gcp_token": "https://oauth2.googleapis.com/token",
        "gcp_resource_manager": "https://cloudresourcemanager.googleapis.com",
        "gcp_sts": "https://sts.googleapis.com/v1/token",
        "gcp_iam_credentials": "https://iamcredentials.googleapis.com",
        "gcp_bigquery": "https://bigquery.googleapis.com",
    }
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
        Field("billing_export_table", "BigQuery billing export table", "string", required=False,
              validators=(bigquery_table,), placeholder="billing-project.billing_dataset.gcp_billing_export_v1_XXXX",
              help_text="Optional: where FinOps reads this project's costs (Cloud Billing export to BigQuery)."),
    )  # fmt: skip
    summary_fields = ("project_id",)

    def federation_setup(
        self, auth_method: str, config: Mapping[str, Any], *, issuer: str, subject: str
    ) -> dict[str, Any] | None:
        """Workload identity: the pool provider that trusts the platform's issuer, and the service account binding.

        The allowed audience is the provider's canonical name, the one the platform's tokens carry (Google's
        default when no audience is listed); the attribute condition admits this connection's subject only.
        """
        if auth_method != "workload_identity":
            return None
        resource = str(config.get("workload_identity_provider") or "")
        match = re.fullmatch(
            r"projects/([^/]+)/locations/([^/]+)/workloadIdentityPools/([^/]+)/providers/([^/]+)", resource
        )
        number, location, pool, provider = match.groups() if match else ("PROJECT_NUMBER", "global", "POOL", "PROVIDER")
        audience = f"//iam.googleapis.com/{resource}"
        mapping = "google.subject=assertion.sub"
        condition = f"assertion.sub=='{subject}'"
        member = f"principal://iam.googleapis.com/projects/{number}/locations/{location}/workloadIdentityPools/{pool}/subject/{subject}"
        account = str(config.get("service_account_email") or "SERVICE_ACCOUNT_EMAIL")
        project = str(config.get("project_id") or number)
        q = shlex.quote
        return federation_panel(
            "Workload identity pool provider in Google Cloud",
            values=[
                ("issuer", "Issuer (URL)", issuer),
                ("audience", "Allowed audience", audience),
                ("attribute_mapping", "Attribute mapping", mapping),
                ("attribute_condition", "Attribute condition", condition),
                ("subject", "Subject (google.subject)", subject),
                ("member", "Principal to grant", member),
            ],
            commands=[
                (
                    "Create the pool (once)",
                    f"gcloud iam workload-identity-pools create {q(pool)} --project={q(project)} "
                    f"--location={q(location)} --display-name='Cloud connections'",
                ),
                (
                    "Create the OIDC provider in the pool",
                    f"gcloud iam workload-identity-pools providers create-oidc {q(provider)} --project={q(project)} "
                    f"--location={q(location)} --workload-identity-pool={q(pool)} --issuer-uri={q(issuer)} "
                    f"--allowed-audiences={q(audience)} --attribute-mapping={q(mapping)} "
                    f"--attribute-condition={q(condition)}",
                ),
                (
                    "Let this connection impersonate the service account",
                    f"gcloud iam service-accounts add-iam-policy-binding {q(account)} --project={q(project)} "
                    f"--role=roles/iam.workloadIdentityUser --member={q(member)}",
                ),
            ],
            notes=["The pool and provider IDs come from the workload identity provider name you entered."],
        )

    def check(self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any) -> CheckResult:
        """Get an access token, then look the project up with it.

        A token alone proves the key or federation works; the lookup proves the identity can reach
        the declared project, which is what runs will need.
        """
        token, identity = access_token(auth_method, config, secrets, ctx)
        project_id = str(config["project_id"])
        project = lookup_project(project_id, token, ctx)
        number = project.get("projectNumber")
        suffix = f" (number {number})" if number else ""
        return CheckResult(
            f"{identity} can access project {project_id}{suffix}.",
            details={"identity": identity, "project_id": project_id, "project_number": number},
        )

    def run_setup(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any, *, ref: Any = None
    ) -> Any:
        """Workload identity: the external_account file plus a platform token file rewritten before it expires."""
        if auth_method != "workload_identity":
            return None
        config = self._with_defaults(auth_method, config)
        audience = f"//iam.googleapis.com/{config['workload_identity_provider']}"
        out = Materialized()
        for name in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_PROJECT", "CLOUDSDK_CORE_PROJECT"):
            out.set_env(name, config["project_id"])
        token = ctx.sign(audience)
        out.sensitive.add(token)
        token_file = out.add_file(OIDC_TOKEN_FILE, token)
        info = external_account_info(config, token_file)
        path = out.add_file(CREDENTIALS_FILE, json.dumps(info, indent=2), templated=True)
        out.set_env("GOOGLE_APPLICATION_CREDENTIALS", path)
        out.set_env("CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", path)
        return RunSetup(out, [RefreshingFile(OIDC_TOKEN_FILE, lambda: ctx.sign(audience), ctx.refresh_interval)])

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
            external_account = external_account_info(config, token_file)
            path = out.add_file(CREDENTIALS_FILE, json.dumps(external_account, indent=2), templated=True)
            out.set_env("GOOGLE_APPLICATION_CREDENTIALS", path)
        if secrets.get("access_token"):
            out.set_secret_env("GOOGLE_OAUTH_ACCESS_TOKEN", secrets["access_token"])
            out.set_secret_env("CLOUDSDK_AUTH_ACCESS_TOKEN", secrets["access_token"])
        return out
