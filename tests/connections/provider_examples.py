"""Example provider payloads shared by the test suites.

`valid_examples()` gives one valid ``(config, secrets)`` pair per provider and auth method; other
tests (API, services, runs) reuse it to create connections without restating every field rule.
`INVALID_CASES` lists ``(provider, auth_method, field, bad_value)``: putting `bad_value` into that
field of the valid example (in config or secrets, wherever the field lives) must fail on exactly
that field. Key material is generated locally with `cryptography`; nothing here is a real credential.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from functools import cache
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "INVALID_CASES",
    "ca_certificate_pem",
    "client_certificate_pem",
    "ec_private_key_pem",
    "gcp_service_account_key_json",
    "kubeconfig_yaml",
    "rsa_private_key_pem",
    "valid_examples",
]

ACCOUNT_ID = "123456789012"
SUBSCRIPTION_ID = "2f1a4b6c-8d9e-4f01-a234-56789abcdef0"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0b5c3e2a-1d4f-4a6b-9c8d-7e6f5a4b3c2d"
PROXMOX_TOKEN = "d6f3c2a1-5b4e-4c3d-8a9b-0c1d2e3f4a5b"
SCW_ORG = "11111111-2222-4333-8444-555555555555"
SCW_PROJECT = "66666666-7777-4888-9999-aaaaaaaaaaaa"
SCW_SECRET = "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"


# -- key material ----------------------------------------------------------------------------------


def _pem_key(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@cache
def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa_private_key_pem() -> str:
    """A freshly generated (per test session) RSA private key, as GCP service account keys use."""
    return _pem_key(_rsa_key())


@cache
def _ec_key(label: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ec_private_key_pem(label: str = "default") -> str:
    """A generated EC private key; the same `label` gives the same key within a session."""
    return _pem_key(_ec_key(label))


def _certificate(subject: str, key: Any, issuer: str, issuer_key: Any, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


@cache
def ca_certificate_pem() -> str:
    """A self-signed cluster CA certificate (PEM)."""
    key = _ec_key("ca")
    cert = _certificate("kubernetes-ca", key, "kubernetes-ca", key, ca=True)
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@cache
def client_certificate_pem() -> str:
    """A client certificate for ``ec_private_key_pem("client")``, signed by the CA above."""
    cert = _certificate("terraform", _ec_key("client"), "kubernetes-ca", _ec_key("ca"), ca=False)
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def gcp_service_account_key_json(*, private_key: str | None = None, **overrides: Any) -> str:
    """A service account key file's JSON; `overrides` replace (or, with None, remove) keys."""
    data: dict[str, Any] = {
        "type": "service_account",
        "project_id": "my-project-123456",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": private_key if private_key is not None else rsa_private_key_pem(),
        "client_email": "terraform@my-project-123456.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data)


def kubeconfig_yaml(*, server: str | None = "https://k8s.example.com:6443", drop: tuple[str, ...] = ()) -> str:
    """A self-contained kubeconfig with an embedded CA and bearer token; `drop` removes top-level keys."""
    cluster: dict[str, Any] = {"certificate-authority-data": base64.b64encode(ca_certificate_pem().encode()).decode()}
    if server is not None:
        cluster["server"] = server
    data: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "prod", "cluster": cluster}],
        "users": [{"name": "terraform", "user": {"token": "kubeconfig-bearer-token-0123456789"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "terraform"}}],
        "current-context": "prod",
    }
    for key in drop:
        data.pop(key, None)
    return yaml.safe_dump(data, sort_keys=False)


# -- valid examples --------------------------------------------------------------------------------


@cache
def _valid_examples() -> dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]]:
    proxmox_config = {
        "api_endpoint": "https://192.168.50.10:8006",
        "node": "pve",
        "subnet": "192.168.50.0/24",
        "public_ip": "81.2.69.142",
        "router_vendor": "pfsense",
        "token_id": "terraform@pve!runner",
        "ssh_username": "root",
    }
    vcenter_config = {
        "host": "192.168.60.5",
        "port": 443,
        "datacenter": "DC1",
        "cluster": "Cluster-A",
        "subnet": "192.168.60.0/24",
        "public_ip": "81.2.69.143",
        "router_vendor": "mikrotik",
        "username": "terraform@vsphere.local",
    }
    azure_config = {
        "subscription_id": SUBSCRIPTION_ID,
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "region": "westeurope",
    }
    endpoint = "https://k8s.example.com:6443"
    return {
        "aws": {
            "access_key": (
                {"account_id": ACCOUNT_ID, "region": "eu-west-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE"},
                {"secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
            ),
            "assume_role": ({"account_id": ACCOUNT_ID, "region": "us-east-1"}, {}),
            "web_identity": (
                {"account_id": ACCOUNT_ID, "region": "us-west-2", "role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/Tf"},
                {},
            ),
        },
        "gcp": {
            "service_account_key": (
                {"project_id": "my-project-123456"},
                {"service_account_key": gcp_service_account_key_json()},
            ),
            "workload_identity": (
                {
                    "project_id": "my-project-123456",
                    "workload_identity_provider": (
                        "projects/123456789012/locations/global/workloadIdentityPools/platform-pool/providers/oidc"
                    ),
                    "service_account_email": "terraform@my-project-123456.iam.gserviceaccount.com",
                },
                {},
            ),
        },
        "azure": {
            "client_secret": (dict(azure_config), {"client_secret": "abC8Q~exampleSecretValue.1234567890abcd"}),
            "federated": (dict(azure_config), {}),
        },
        "digitalocean": {"api_token": ({"region": "nyc3"}, {"token": "dop_v1_" + "0123456789abcdef" * 4})},
        "scaleway": {
            "api_token": (
                {
                    "access_key": "SCWABCDEFGHJKMNPQRST",
                    "organization_id": SCW_ORG,
                    "project_id": SCW_PROJECT,
                    "region": "nl-ams",
                },
                {"secret_key": SCW_SECRET},
            )
        },
        "civo": {"api_token": ({"region": "FRA1"}, {"token": "civoKey0123456789abcdefghijklmnopqrstuvwxyzABCDEF"})},
        "cloudflare": {
            "api_token": (
                {"account_id": "0123456789abcdef0123456789abcdef"},
                {"token": "cfToken_0123456789abcdefghijklmnopqrstuvwxyz"},
            )
        },
        "github": {
            "oauth": ({"organization": "acme-corp"}, {"token": "gho_" + "A1b2C3d4E5f6" * 3}),
            "pat": (
                {"base_url": "https://ghe.example.com/api/v3", "organization": "platform"},
                {"token": "github_pat_11ABCDEFG0123456789_" + "abcdefghij" * 6},
            ),
        },
        "gitlab": {
            "oauth": ({}, {"token": "0123456789abcdef" * 4}),
            "pat": (
                {"base_url": "https://gitlab.example.com", "organization": "platform/infra"},
                {"token": "glpat-AbCdEfGhIjKlMnOpQrSt"},
            ),
        },
        "dockerhub": {"pat": ({"namespace": "acmecorp"}, {"token": "dckr_pat_AbCdEfGhIjKlMnOpQrStUvWxYz0"})},
        "ecr": {"cloud_connection": ({"cloud_connection": "aws-production", "region": "eu-west-1"}, {})},
        "gcr": {
            "cloud_connection": (
                {"cloud_connection": "gcp-production", "registry_url": "europe-west1-docker.pkg.dev"},
                {},
            )
        },
        "s3_backend": {
            "cloud_connection": (
                {
                    "cloud_connection": "aws-production",
                    "bucket": "acme-terraform-state",
                    "region": "eu-west-1",
                    "key_prefix": "platform",
                    "dynamodb_table": "terraform-locks",
                },
                {},
            )
        },
        "gcs_backend": {
            "cloud_connection": (
                {"cloud_connection": "gcp-production", "bucket": "acme-terraform-state", "key_prefix": "platform"},
                {},
            )
        },
        "kubernetes": {
            "kubeconfig": ({}, {"kubeconfig": kubeconfig_yaml(server=endpoint)}),
            "token": (
                {"endpoint": endpoint, "ca_data": ca_certificate_pem()},
                {"token": "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.service-account-token"},
            ),
            "client_cert": (
                {"endpoint": endpoint, "ca_data": ca_certificate_pem(), "client_certificate": client_certificate_pem()},
                {"client_key": ec_private_key_pem("client")},
            ),
        },
        "proxmox": {"api_token": (proxmox_config, {"token": PROXMOX_TOKEN, "ssh_password": "correct horse battery"})},
        "vcenter": {"password": (vcenter_config, {"password": "S3cure-vCenter-pass!"})},
    }


def valid_examples() -> dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]]:
    """``VALID[provider][auth_method] = (config, secrets)``; a deep copy, so callers may mutate it."""
    return copy.deepcopy(_valid_examples())


# -- invalid cases ---------------------------------------------------------------------------------

_BAD_PEM = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
_KUBE_FILE_KEY = kubeconfig_yaml().replace("token: kubeconfig-bearer-token-0123456789", "client-key: /home/me/key.pem")

INVALID_CASES: list[tuple[str, str, str, Any]] = [
    # aws
    ("aws", "access_key", "account_id", "12345678901"),
    ("aws", "access_key", "account_id", "12345678901a"),
    ("aws", "assume_role", "region", "us-east-7"),
    ("aws", "assume_role", "region", "us-east-1a"),
    ("aws", "access_key", "access_key_id", "AKIA123"),
    ("aws", "access_key", "access_key_id", "akiaiosfodnn7example"),
    ("aws", "access_key", "secret_access_key", "too-short-secret"),
    ("aws", "web_identity", "role_arn", "arn:aws:iam::123456789012:user/bob"),
    ("aws", "web_identity", "role_arn", "arn:aws:iam::999999999999:role/Tf"),  # another account
    # gcp
    ("gcp", "service_account_key", "project_id", "My_Project"),
    ("gcp", "service_account_key", "billing_export_table", "x`; DROP TABLE y; --"),  # quoted into SQL by FinOps
    ("gcp", "workload_identity", "billing_export_table", "dataset_only"),
    ("gcp", "service_account_key", "project_id", "abc"),
    ("gcp", "workload_identity", "project_id", "my-project-"),
    ("gcp", "service_account_key", "service_account_key", "not json at all"),
    ("gcp", "service_account_key", "service_account_key", json.dumps(["a", "list"])),
    ("gcp", "service_account_key", "service_account_key", gcp_service_account_key_json(type="authorized_user")),
    ("gcp", "service_account_key", "service_account_key", gcp_service_account_key_json(private_key="")),
    ("gcp", "service_account_key", "service_account_key", gcp_service_account_key_json(client_email=None)),
    ("gcp", "service_account_key", "service_account_key", gcp_service_account_key_json(private_key=_BAD_PEM)),
    (
        "gcp",
        "service_account_key",
        "service_account_key",
        gcp_service_account_key_json(private_key=ec_private_key_pem("gcp"), project_id="Bad_Project"),
    ),
    ("gcp", "workload_identity", "workload_identity_provider", "projects/abc/locations/global/pools/x"),
    ("gcp", "workload_identity", "service_account_email", "bob@gmail.com"),
    # azure
    ("azure", "client_secret", "subscription_id", "not-a-guid"),
    ("azure", "federated", "tenant_id", "1234"),
    ("azure", "federated", "client_id", "0b5c3e2a1d4f4a6b9c8d7e6f5a4b3c2d00"),
    ("azure", "client_secret", "region", "westeurope2"),
    ("azure", "client_secret", "client_secret", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"),  # the secret's ID
    ("azure", "client_secret", "client_secret", "short"),
    # digitalocean, scaleway, civo, cloudflare
    ("digitalocean", "api_token", "region", "nyc9"),
    ("digitalocean", "api_token", "token", "dop_v1_not-hex-at-all-0123456789"),
    ("scaleway", "api_token", "access_key", "SCW123"),
    ("scaleway", "api_token", "organization_id", "org-1"),
    ("scaleway", "api_token", "project_id", "project-1"),
    ("scaleway", "api_token", "region", "fr-lyon"),
    ("scaleway", "api_token", "secret_key", "not-a-uuid-secret-key"),
    ("civo", "api_token", "region", "LON2"),
    ("civo", "api_token", "token", "short"),
    ("cloudflare", "api_token", "account_id", "xyz"),
    ("cloudflare", "api_token", "token", "too-short-token-value"),
    # git
    ("github", "pat", "base_url", "http://ghe.example.com/api/v3"),
    ("github", "pat", "base_url", "https://user:pw@ghe.example.com/api/v3"),
    ("github", "oauth", "organization", "-acme-"),
    ("github", "pat", "token", "ghp_tooShort0123456789"),
    ("github", "pat", "token", "Bearer ghp_0123456789abcdefghijklmnopqrstuvwxyz"),
    ("github", "oauth", "token", "ghr_0123456789abcdefghijklmnopqrstuvwxyz"),
    ("github", "oauth", "refresh_token", "ghr_0123456789 abcdefghijklmnop qrstuvwxyz"),
    ("gitlab", "pat", "base_url", "http://gitlab.example.com"),
    ("gitlab", "pat", "organization", "platform/infra.git"),
    ("gitlab", "pat", "token", "glrt-0123456789abcdefghij"),
    ("gitlab", "oauth", "token", "has spaces in the token value"),
    ("gitlab", "oauth", "refresh_token", "short"),
    # registries
    ("dockerhub", "pat", "namespace", "Acme_Corp"),
    ("dockerhub", "pat", "registry_url", "ftp://registry.example.com"),
    ("dockerhub", "pat", "token", "short"),
    ("ecr", "cloud_connection", "cloud_connection", ""),
    ("ecr", "cloud_connection", "region", "mars-north-1"),
    ("ecr", "cloud_connection", "registry_url", "registry.example.com"),
    ("ecr", "cloud_connection", "registry_url", "123456789012.dkr.ecr.us-east-1.amazonaws.com"),  # region mismatch
    ("gcr", "cloud_connection", "cloud_connection", None),
    ("gcr", "cloud_connection", "registry_url", "docker.io"),
    # state backends
    ("s3_backend", "cloud_connection", "cloud_connection", "   "),
    ("s3_backend", "cloud_connection", "bucket", "Bad_Bucket"),
    ("s3_backend", "cloud_connection", "bucket", "192.168.1.1"),
    ("s3_backend", "cloud_connection", "region", "eu"),
    ("s3_backend", "cloud_connection", "key_prefix", "/absolute/prefix"),
    ("s3_backend", "cloud_connection", "key_prefix", "a/../b"),
    ("s3_backend", "cloud_connection", "dynamodb_table", "x"),
    ("gcs_backend", "cloud_connection", "cloud_connection", ""),
    ("gcs_backend", "cloud_connection", "bucket", "google-state"),
    ("gcs_backend", "cloud_connection", "key_prefix", "a//b"),
    # kubernetes
    ("kubernetes", "kubeconfig", "kubeconfig", kubeconfig_yaml(drop=("current-context",))),
    ("kubernetes", "kubeconfig", "kubeconfig", kubeconfig_yaml(server=None)),
    ("kubernetes", "kubeconfig", "kubeconfig", kubeconfig_yaml(drop=("contexts",))),
    ("kubernetes", "kubeconfig", "kubeconfig", "clusters: [unclosed"),
    ("kubernetes", "kubeconfig", "kubeconfig", "just a string"),
    ("kubernetes", "kubeconfig", "kubeconfig", _KUBE_FILE_KEY),
    ("kubernetes", "kubeconfig", "endpoint", "ftp://k8s.example.com"),
    ("kubernetes", "token", "endpoint", "http://k8s.example.com:6443"),
    ("kubernetes", "token", "ca_data", "not a certificate"),
    ("kubernetes", "token", "token", "short"),
    ("kubernetes", "client_cert", "client_certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
    ("kubernetes", "client_cert", "client_key", "not a key"),
    ("kubernetes", "client_cert", "client_key", _BAD_PEM),
    ("kubernetes", "client_cert", "client_key", ec_private_key_pem("other")),  # does not match the certificate
    # proxmox
    ("proxmox", "api_token", "api_endpoint", "http://192.168.50.10:8006"),
    ("proxmox", "api_token", "api_endpoint", "https://10.0.0.5:8006"),  # outside the subnet
    ("proxmox", "api_token", "node", "pve_1"),
    ("proxmox", "api_token", "subnet", "8.8.8.0/24"),
    ("proxmox", "api_token", "subnet", "192.168.50.0/33"),
    ("proxmox", "api_token", "subnet", "bad cidr"),
    ("proxmox", "api_token", "public_ip", "192.168.1.1"),
    ("proxmox", "api_token", "public_ip", "100.64.1.1"),
    ("proxmox", "api_token", "public_ip", "127.0.0.1"),
    ("proxmox", "api_token", "public_ip", "not-an-ip"),
    ("proxmox", "api_token", "router_vendor", "cisco"),
    ("proxmox", "api_token", "token_id", "terraform"),
    ("proxmox", "api_token", "ssh_username", "root\nevil"),
    ("proxmox", "api_token", "token", "not-a-uuid"),
    ("proxmox", "api_token", "ssh_password", "line\nbreak"),
    # vcenter
    ("vcenter", "password", "host", "https://vcenter.example.com"),
    ("vcenter", "password", "host", "192.168.99.5"),  # outside the subnet
    ("vcenter", "password", "port", 70000),
    ("vcenter", "password", "port", "https"),
    ("vcenter", "password", "datacenter", "D" * 81),
    ("vcenter", "password", "cluster", "C" * 81),
    ("vcenter", "password", "subnet", "10.0.0.0"),
    ("vcenter", "password", "public_ip", "10.1.1.1"),
    ("vcenter", "password", "router_vendor", "juniper"),
    ("vcenter", "password", "username", "u" * 257),
    ("vcenter", "password", "password", ""),
]
