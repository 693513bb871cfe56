"""Field validators (connections/providers/validators.py): what they accept and normalize, what they reject.
Pure Python: no database, no network."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connections.providers import validators as v
from connections.providers.base import FieldError
from tests.connections.provider_examples import ca_certificate_pem, client_certificate_pem


@pytest.mark.parametrize(
    ("validator", "good", "expected"),
    [
        (v.aws_account_id, "0123-4567-8901", "012345678901"),
        (v.aws_region, "US-GOV-WEST-1", "us-gov-west-1"),
        (v.aws_region, "cn-northwest-1", "cn-northwest-1"),
        (v.aws_region, "mx-central-1", "mx-central-1"),
        (v.aws_role_arn, "arn:aws-cn:iam::123456789012:role/ci/Role", "arn:aws-cn:iam::123456789012:role/ci/Role"),
        (v.guid, "{72F988BF-86F1-41AF-91AB-2D7CD011DB47}", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        (v.gcp_workload_identity_provider,
         "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/prov1",
         "projects/1/locations/global/workloadIdentityPools/pool/providers/prov1"),
        (v.cidr, "10.1.2.3/16", "10.1.0.0/16"),
        (v.cidr, "172.20.0.0/16", "172.20.0.0/16"),
        (v.ipv4_cidr, "8.8.8.0/24", "8.8.8.0/24"),
        (v.public_ipv4, "81.2.69.142", "81.2.69.142"),
        (v.hostname_or_ip, "VCenter.Corp.Example", "vcenter.corp.example"),
        (v.hostname_or_ip, "fe80::1", "fe80::1"),
        (v.port, "8443", 8443),
        (v.s3_bucket, "my.state-bucket", "my.state-bucket"),
        (v.gcs_bucket, "my_state.bucket", "my_state.bucket"),
        (v.key_prefix, "env/prod/", "env/prod"),
        (v.github_token, "github_pat_" + "A" * 82, "github_pat_" + "A" * 82),
        (v.github_token, "0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef01234567"),
        (v.gitlab_token, "glpat-abcdefghijklmnopqrst", "glpat-abcdefghijklmnopqrst"),
        (v.https_url, "HTTPS://Example.com:8443/api", "https://Example.com:8443/api"),
    ],
)  # fmt: skip
def test_validators_accept_and_normalize(validator: Any, good: Any, expected: Any) -> None:
    assert validator(good) == expected


@pytest.mark.parametrize(
    ("validator", "bad"),
    [
        (v.public_ipv4, "10.0.0.1"), (v.public_ipv4, "172.16.5.4"), (v.public_ipv4, "169.254.1.1"),
        (v.public_ipv4, "224.0.0.1"), (v.public_ipv4, "240.0.0.1"), (v.public_ipv4, "0.0.0.0"),
        (v.public_ipv4, "100.100.1.1"), (v.cidr, "fd00::/8"), (v.cidr, "100.64.0.0/10"),
        (v.https_url, "https://example.com/#frag"), (v.https_url, "https://"), (v.https_url, "https://h:99999"),
        (v.hostname_or_ip, "999.1.1.1"), (v.hostname_or_ip, "-bad-.example"), (v.port, 0), (v.port, True),
        (v.s3_bucket, "ab"), (v.s3_bucket, "my..bucket"), (v.s3_bucket, "xn--bucket"), (v.s3_bucket, "b-s3alias"),
        (v.gcs_bucket, "g00gle-bucket"), (v.gcs_bucket, "a" * 64), (v.dockerhub_namespace, "abc"),
        (v.aws_secret_access_key, "x" * 41), (v.token_min_length(8), "Bearer abcdefghij"),
        (v.pem_certificate, base64.b64encode(b"not a cert").decode()), (v.gcp_project_id, "a" * 31),
    ],
)  # fmt: skip
def test_validators_reject(validator: Any, bad: Any) -> None:
    with pytest.raises(FieldError):
        validator(bad)


def test_pem_certificate_accepts_base64_and_bundles() -> None:
    pem = ca_certificate_pem()
    assert v.pem_certificate(base64.b64encode(pem.encode()).decode()) == pem
    assert v.pem_certificate(pem + client_certificate_pem()) == pem + client_certificate_pem()


def test_pem_private_key_rejects_encrypted_keys() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    with pytest.raises(FieldError, match="Encrypted"):
        v.pem_private_key(key.decode())


def test_aws_region_list_is_complete_enough() -> None:
    for region in (
        "us-east-1",
        "ap-southeast-5",
        "mx-central-1",
        "ca-west-1",
        "il-central-1",
        "us-gov-east-1",
        "cn-north-1",
    ):
        assert region in v.AWS_REGIONS
