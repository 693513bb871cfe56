"""Microsoft Azure (connections/providers/azure/): the check against the fake Entra ID of
tests/identity/fake_azure.py over TLS, with a client secret or a platform assertion; materialization."""

from __future__ import annotations

from connections.providers import get_provider
from tests.connections.providers.checks_cloud import (
    entra,  # noqa: F401
    example,
    failed_check,
    issuer,  # noqa: F401
    make_ctx,
    run_check,
    subject_for,
)
from tests.connections.providers.conftest import cleaned
from tests.identity.fake_azure import AZURE_AD_TOKEN_EXCHANGE


def test_azure_client_secret_gets_a_management_token(entra):
    config, secrets_ = example("azure", "client_secret")
    entra.add_client_secret(
        tenant_id=config["tenant_id"], client_id=config["client_id"], secret=secrets_["client_secret"]
    )

    result = run_check("azure", "client_secret", config, secrets_, make_ctx("azure-prod"))

    assert (
        result.message == f"Service principal {config['client_id']} obtained a token in tenant {config['tenant_id']}."
    )
    (request,) = entra.token_requests
    assert request.form["scope"] == "https://management.azure.com/.default"


def test_azure_wrong_client_secret_reports_entra_reason(entra):
    config, secrets_ = example("azure", "client_secret")
    entra.add_client_secret(
        tenant_id=config["tenant_id"], client_id=config["client_id"], secret="the-real-secret~value"
    )

    failure = failed_check("azure", "client_secret", config, secrets_, make_ctx("azure-prod"))

    assert failure.reason.startswith("AADSTS7000215: Invalid client secret provided.")
    assert "Trace ID" not in failure.reason


def test_azure_federated_presents_a_platform_assertion(entra, issuer):
    config, secrets_ = example("azure", "federated")
    entra.add_federated_credential(
        tenant_id=config["tenant_id"], client_id=config["client_id"], issuer=issuer.url, subject=subject_for("az-fed")
    )

    result = run_check("azure", "federated", config, secrets_, make_ctx("az-fed", issuer=issuer))

    assert config["client_id"] in result.message
    assert issuer.signed == [(AZURE_AD_TOKEN_EXCHANGE, "org:acme:connection:az-fed")]
    assert entra.issued_tokens[0].subject == "org:acme:connection:az-fed"


def test_azure_federated_with_another_subject_fails(entra, issuer):
    config, secrets_ = example("azure", "federated")
    entra.add_federated_credential(
        tenant_id=config["tenant_id"], client_id=config["client_id"], issuer=issuer.url, subject=subject_for("other")
    )

    failure = failed_check("azure", "federated", config, secrets_, make_ctx("az-fed", issuer=issuer))

    assert failure.reason.startswith(
        "AADSTS700213: No matching federated identity record found for presented assertion subject "
        "'org:acme:connection:az-fed'."
    )


def test_azure_unknown_tenant_is_named(entra):
    config, secrets_ = example("azure", "client_secret")

    failure = failed_check("azure", "client_secret", config, secrets_, make_ctx("azure-prod"))

    assert failure.reason == f"Microsoft Entra ID has no tenant {config['tenant_id']}; check the tenant ID."


# --- Materialization ------------------------------------------------------------------------------


def test_azure_federated_oidc() -> None:
    config, _ = cleaned("azure", "federated")
    env = get_provider("azure").materialize("federated", config, {"oidc_token": "jwt"}).env
    assert env["ARM_USE_OIDC"] == "true" and env["ARM_OIDC_TOKEN"] == "jwt"
    assert "ARM_CLIENT_SECRET" not in env
