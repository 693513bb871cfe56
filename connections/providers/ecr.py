"""Amazon ECR: a registry reached with the credentials of an existing AWS connection."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from . import validators as v
from .aws.provider import aws_call, clients, referenced_credentials
from .base import (
    AuthMethod,
    CloudConnectionProvider,
    Field,
    FieldError,
    Materialized,
    MaterializeError,
    ProviderValidationError,
)
from .contract import CheckFailed, CheckResult
from .dockerhub import DOCKER_CONFIG_FILE
from .run import RunSetup

_REGISTRY = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


def ecr_registry_url(value: Any) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com``; a pasted https:// or trailing slash is removed."""
    value = str(value).strip().removeprefix("https://").rstrip("/")
    match = _REGISTRY.match(value)
    if not match or match.group(2) not in v.AWS_REGIONS:
        raise FieldError("Must look like 123456789012.dkr.ecr.us-east-1.amazonaws.com.")
    return value


def registry_host(account_id: str, region: str) -> str:
    """The private registry host of an account in a region (China regions use .amazonaws.com.cn)."""
    suffix = ".cn" if region.startswith("cn-") else ""
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com{suffix}"


class EcrProvider(CloudConnectionProvider):
    """ECR connection: stores no secret; borrows an AWS connection's credentials at run time."""

    code = "ecr"
    label = "Amazon ECR"
    category = "registry"
    description = "Amazon Elastic Container Registry, through one of your AWS connections."
    icon = "ECR"
    color = "#ff9900"
    test_description = "ecr:GetAuthorizationToken with the AWS connection."
    auth_methods = (
        AuthMethod(
            "cloud_connection", "AWS connection", "Use the credentials of an AWS connection.", stores_secret=False
        ),
    )
    fields = (
        Field("cloud_connection", "AWS connection", "connection_ref", ref_providers=("aws",),
              help_text="Name of the AWS connection whose credentials reach the registry."),
        Field("region", "Region", "string", required=False, validators=(v.aws_region,),
              help_text="Defaults to the AWS connection's region."),
        Field("registry_url", "Registry", "string", required=False, validators=(ecr_registry_url,),
              placeholder="123456789012.dkr.ecr.us-east-1.amazonaws.com",
              help_text="Defaults to the AWS connection's account registry in the region."),
    )  # fmt: skip
    summary_fields = ("cloud_connection", "region", "registry_url")

    def clean_extra(
        self, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], *, partial: bool = False
    ) -> None:
        """A registry in one region with a region setting for another would make every push fail."""
        registry, region = config.get("registry_url"), config.get("region")
        if registry and region:
            registry_region = _REGISTRY.match(registry).group(2)  # type: ignore[union-attr]
            if registry_region != region:
                raise ProviderValidationError(
                    {"registry_url": [f"This registry is in {registry_region}, not in the region {region}."]}
                )

    def check(self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any) -> CheckResult:
        """ecr:GetAuthorizationToken with the AWS connection's credentials: exactly what ``docker login`` needs.

        The token itself is a registry password and is never returned; only the proxy endpoint is shown.
        """
        credentials, ref_config = referenced_credentials(ctx)
        region = self._region(config, ref_config)
        ecr = clients.client("ecr", region=region, credentials=credentials, timeout=ctx.timeout)
        response = aws_call(ecr.get_authorization_token, secrets=credentials, what="ECR GetAuthorizationToken")
        data = response.get("authorizationData") or []
        if not data:
            raise CheckFailed("ECR returned no authorization data for this account.")
        proxy = str(data[0].get("proxyEndpoint") or "")
        return CheckResult(f"Registry login works for {proxy}.", details={"proxy_endpoint": proxy, "region": region})

    def run_setup(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any, *, ref: Any = None
    ) -> Any:
        """A docker ``config.json`` logged in to the registry (ecr:GetAuthorizationToken with the AWS
        connection's run session), on top of that connection's own run credentials.

        The registry password lasts 12 hours; the AWS credentials beside it are refreshed as usual.
        """
        if ref is None or ref.setup.session_credentials is None:
            raise MaterializeError("Amazon ECR: set up the AWS connection's run credentials first.")
        config = self._with_defaults(auth_method, config)
        region = self._region(config, ref.config)
        ecr = clients.session_client("ecr", region=region, credentials=ref.setup.session_credentials(),
                                     timeout=ctx.timeout)  # fmt: skip
        data = (ecr.get_authorization_token().get("authorizationData") or [None])[0]
        if not data:
            raise MaterializeError("ECR returned no authorization data for this account.")
        auth = str(data["authorizationToken"])
        password = base64.b64decode(auth).decode().partition(":")[2]
        own = self._own_materialized(config, ref=ref.setup.materialized, ref_config=ref.config)
        registry = own.env.get("ECR_REGISTRY") or str(data.get("proxyEndpoint") or "").removeprefix("https://")
        own.sensitive.update({auth, password})
        own.add_file(DOCKER_CONFIG_FILE, json.dumps({"auths": {registry: {"auth": auth}}}, indent=2))
        own.set_env("DOCKER_CONFIG", "{dir:docker}")
        own.set_env("ECR_REGISTRY", registry)
        return RunSetup(ref.setup.materialized.merged(own), list(ref.setup.services), ref.setup.session_credentials)

    @staticmethod
    def _region(config: Mapping[str, Any], ref_config: Mapping[str, Any], ref_env_region: str | None = None) -> str:
        """The registry region: set explicitly, implied by the registry host, or the AWS connection's region."""
        registry = config.get("registry_url")
        return str(
            config.get("region")
            or (_REGISTRY.match(registry).group(2) if registry else None)  # type: ignore[union-attr]
            or ref_config.get("region")
            or ref_env_region
            or "us-east-1"
        )

    def _own_materialized(
        self, config: dict[str, Any], *, ref: Materialized, ref_config: dict[str, Any]
    ) -> Materialized:
        out = Materialized()
        registry = config.get("registry_url")
        region = self._region(config, ref_config, ref.env.get("AWS_REGION"))
        out.set_env("AWS_REGION", region)
        out.set_env("AWS_DEFAULT_REGION", region)
        if not registry and ref_config.get("account_id"):
            registry = registry_host(ref_config["account_id"], region)
        if registry:
            out.set_env("ECR_REGISTRY", registry)
        return out
