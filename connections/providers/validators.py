"""Reusable field validators for provider declarations.

Each validator takes an already type-coerced value (see `Field.clean`), returns the cleaned value
(possibly normalized) and raises `FieldError` with a message a user can act on. Messages for values
that may be secret (tokens, keys, kubeconfigs) never quote the value: they end up in API responses.
Everything is offline: nothing here touches the network.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .errors import FieldError

# --------------------------------------------------------------------------------------------------
# AWS
# --------------------------------------------------------------------------------------------------

AWS_COMMERCIAL_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)
AWS_GOVCLOUD_REGIONS = frozenset({"us-gov-east-1", "us-gov-west-1"})
AWS_CHINA_REGIONS = frozenset({"cn-north-1", "cn-northwest-1"})
AWS_REGIONS = AWS_COMMERCIAL_REGIONS | AWS_GOVCLOUD_REGIONS | AWS_CHINA_REGIONS

_AWS_ACCOUNT_ID = re.compile(r"^\d{12}$")
_AWS_ACCESS_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
_AWS_SECRET_ACCESS_KEY = re.compile(r"^[A-Za-z0-9/+=]{40}$")
_AWS_ROLE_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError("Must be a string.")
    return value.strip()


def aws_account_id(value: Any) -> str:
    """A 12-digit AWS account id (kept as a string: leading zeros are significant)."""
    value = _text(value)
    if re.fullmatch(r"\d{4}-\d{4}-\d{4}", value):  # as the console displays it
        value = value.replace("-", "")
    if not _AWS_ACCOUNT_ID.match(value):
        raise FieldError("An AWS account ID is exactly 12 digits.")
    return value


def aws_region(value: Any) -> str:
    """A real AWS region code (commercial, GovCloud or China)."""
    value = _text(value).lower()
    if value in AWS_REGIONS:
        return value
    if value[:-1] in AWS_REGIONS and value[-1:].isalpha():
        raise FieldError(f"{value!r} is an availability zone; use the region {value[:-1]!r}.")
    raise FieldError(f"Unknown AWS region {value[:40]!r}.")


def aws_access_key_id(value: Any) -> str:
    """An access key id: AKIA (long-term) or ASIA (temporary) followed by 16 upper-case characters."""
    value = _text(value)
    if not _AWS_ACCESS_KEY_ID.match(value):
        raise FieldError("An access key ID is 20 characters starting with AKIA or ASIA.")
    return value


def aws_secret_access_key(value: Any) -> str:
    """A 40-character secret access key."""
    value = _text(value)
    if not _AWS_SECRET_ACCESS_KEY.match(value):
        raise FieldError("A secret access key is 40 characters of letters, digits, '/', '+' and '='.")
    return value


def aws_role_arn(value: Any) -> str:
    """An IAM role ARN in any AWS partition."""
    value = _text(value)
    if not _AWS_ROLE_ARN.match(value):
        raise FieldError("Must be an IAM role ARN such as arn:aws:iam::123456789012:role/TerraformRunner.")
    return value


def aws_role_arn_account(value: str) -> str:
    """The account id embedded in a (valid) role ARN."""
    match = _AWS_ROLE_ARN.match(value)
    if not match:
        raise FieldError("Must be an IAM role ARN.")
    return match.group(2)


# --------------------------------------------------------------------------------------------------
# Azure
# --------------------------------------------------------------------------------------------------

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

AZURE_REGIONS = frozenset(
    {
        # Americas
        "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast", "centralus", "chilecentral",
        "eastus", "eastus2", "mexicocentral", "northcentralus", "southcentralus", "westcentralus",
        "westus", "westus2", "westus3",
        # Europe
        "austriaeast", "belgiumcentral", "francecentral", "francesouth", "germanynorth",
        "germanywestcentral", "italynorth", "northeurope", "norwayeast", "norwaywest", "polandcentral",
        "spaincentral", "swedencentral", "swedensouth", "switzerlandnorth", "switzerlandwest", "uksouth",
        "ukwest", "westeurope",
        # Asia Pacific
        "australiacentral", "australiacentral2", "australiaeast", "australiasoutheast", "centralindia",
        "eastasia", "indonesiacentral", "japaneast", "japanwest", "jioindiacentral", "jioindiawest",
        "koreacentral", "koreasouth", "malaysiawest", "newzealandnorth", "southeastasia", "southindia",
        "westindia",
        # Middle East and Africa
        "israelcentral", "qatarcentral", "southafricanorth", "southafricawest", "uaecentral", "uaenorth",
        # Sovereign clouds
        "usgovarizona", "usgovtexas", "usgovvirginia", "usdodcentral", "usdodeast",
        "chinaeast", "chinaeast2", "chinaeast3", "chinanorth", "chinanorth2", "chinanorth3",
    }
)  # fmt: skip


def guid(value: Any) -> str:
    """A GUID such as an Azure tenant, subscription or client id; returned lower-case."""
    value = _text(value).strip("{}")
    if not _GUID.match(value):
        raise FieldError("Must be a GUID such as 00000000-0000-0000-0000-000000000000.")
    return value.lower()


def azure_region(value: Any) -> str:
    """An Azure region name; accepts display names ("West Europe") and returns the programmatic name."""
    value = _text(value).lower().replace(" ", "")
    if value not in AZURE_REGIONS:
        raise FieldError(f"Unknown Azure region {value[:40]!r}; use a name such as westeurope or eastus.")
    return value


def azure_client_secret(value: Any) -> str:
    """A client secret *value*; pasting the secret's ID (a GUID) is the classic mistake, so name it."""
    value = _text(value)
    if _GUID.match(value):
        raise FieldError("This looks like the secret's ID; paste the secret's Value instead.")
    if len(value) < 16 or re.search(r"\s", value):
        raise FieldError("A client secret value is at least 16 characters without spaces.")
    return value


# --------------------------------------------------------------------------------------------------
# GCP
# --------------------------------------------------------------------------------------------------

_GCP_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_GCP_SERVICE_ACCOUNT_EMAIL = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}@[a-z0-9][a-z0-9.-]*\.gserviceaccount\.com$")
_GCP_WIF_PROVIDER = re.compile(
    r"^projects/(\d+)/locations/global/workloadIdentityPools/([a-z0-9-]{4,32})/providers/([a-z0-9-]{4,32})$"
)


def gcp_project_id(value: Any) -> str:
    """A GCP project id: 6-30 chars, starts with a letter, letters/digits/hyphens, no trailing hyphen."""
    value = _text(value)
    if not _GCP_PROJECT_ID.match(value):
        raise FieldError(
            "A project ID is 6 to 30 lowercase letters, digits or hyphens, starts with a letter "
            "and does not end with a hyphen."
        )
    return value


def gcp_service_account_key(value: Any) -> str:
    """A service account JSON key (string or parsed object); returns canonical JSON text.

    The private key is parsed so a truncated copy-paste is caught at save time, not at the first run.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise FieldError("Not valid JSON: paste the whole key file.") from None
    if not isinstance(value, Mapping):
        raise FieldError("Must be a JSON object (the service account key file).")
    if value.get("type") != "service_account":
        raise FieldError('Not a service account key: "type" must be "service_account".')
    email = value.get("client_email")
    if not isinstance(email, str) or "@" not in email:
        raise FieldError('The key has no valid "client_email".')
    private_key = value.get("private_key")
    if not isinstance(private_key, str) or not private_key.strip():
        raise FieldError('The key has no "private_key".')
    try:
        serialization.load_pem_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError):
        raise FieldError('The key\'s "private_key" is not a readable PEM private key.') from None
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))


def gcp_key_project_id(value: str) -> str:
    """For an already-cleaned key: its embedded ``project_id``, when present, must be a valid project id."""
    project = json.loads(value).get("project_id")
    if project is not None and (not isinstance(project, str) or not _GCP_PROJECT_ID.match(project)):
        raise FieldError('The key\'s "project_id" is not a valid project ID.')
    return value


def gcp_workload_identity_provider(value: Any) -> str:
    """A workload identity pool provider resource name (the ``//iam.googleapis.com/`` prefix is optional)."""
    value = _text(value).removeprefix("https:").removeprefix("//iam.googleapis.com/")
    if not _GCP_WIF_PROVIDER.match(value):
        raise FieldError(
            "Must look like projects/123456789/locations/global/workloadIdentityPools/POOL/providers/PROVIDER."
        )
    return value


def gcp_service_account_email(value: Any) -> str:
    """A Google service account email (…@PROJECT.iam.gserviceaccount.com and Google-managed variants)."""
    value = _text(value).lower()
    if not _GCP_SERVICE_ACCOUNT_EMAIL.match(value):
        raise FieldError("Must be a service account email such as runner@my-project.iam.gserviceaccount.com.")
    return value


# --------------------------------------------------------------------------------------------------
# URLs, hosts, networks
# --------------------------------------------------------------------------------------------------

_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _url(value: Any, schemes: tuple[str, ...]) -> str:
    value = _text(value)
    if re.search(r"\s", value):
        raise FieldError("A URL cannot contain spaces.")
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise FieldError(f"Must start with {allowed}.")
    if not parts.hostname:
        raise FieldError("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise FieldError("Do not put credentials in the URL.")
    if parts.fragment or value.endswith("#"):
        raise FieldError("The URL cannot have a #fragment.")
    try:
        parts.port  # noqa: B018 - raises ValueError for an out-of-range port
    except ValueError:
        raise FieldError("The URL has an invalid port.") from None
    return scheme + value[len(parts.scheme) :]


def https_url(value: Any) -> str:
    """An https:// URL with a host, no credentials and no fragment."""
    return _url(value, ("https",))



def hostname(value: Any) -> str:
    """An RFC 1123 host name (returned lower-case)."""
    value = _text(value).lower().rstrip(".")
    labels = value.split(".")
    if not value or len(value) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise FieldError("Must be a valid host name.")
    return value


def hostname_label(value: Any) -> str:
    """A single DNS label, e.g. a Proxmox node name."""
    value = _text(value)
    if not _HOST_LABEL.match(value):
        raise FieldError("Must be letters, digits and hyphens (at most 63), not starting or ending with a hyphen.")
    return value


def hostname_or_ip(value: Any) -> str:
    """A host name or an IPv4/IPv6 address (not a URL)."""
    value = _text(value)
    if "://" in value or "/" in value:
        raise FieldError("Enter a host name or IP address, not a URL.")
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", value):
        raise FieldError("Not a valid IP address.")
    try:
        return hostname(value)
    except FieldError:
        raise FieldError("Must be a host name or an IP address.") from None


def port(value: Any) -> int:
    """A TCP port number, 1-65535."""
    if isinstance(value, bool):
        raise FieldError("Must be a port number between 1 and 65535.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise FieldError("Must be a port number between 1 and 65535.") from None
    if not 1 <= number <= 65535:
        raise FieldError("Must be a port number between 1 and 65535.")
    return number


def ipv4_cidr(value: Any) -> str:
    """Any IPv4 network in CIDR notation; host bits are dropped (192.168.50.7/24 -> 192.168.50.0/24)."""
    value = _text(value)
    if "/" not in value:
        raise FieldError("Must be a network in CIDR notation, e.g. 192.168.50.0/24.")
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise FieldError("Must be a network in CIDR notation, e.g. 192.168.50.0/24.") from None
    if network.version != 4:
        raise FieldError("Must be an IPv4 network.")
    return str(network)


def cidr(value: Any) -> str:
    """An on-prem subnet: an IPv4 CIDR inside the RFC 1918 private ranges (what a site-to-site VPN routes)."""
    network = ipaddress.ip_network(ipv4_cidr(value))
    if not any(network.subnet_of(private) for private in _RFC1918):
        raise FieldError("Must be a private RFC 1918 range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16).")
    return str(network)


# Ranges a router's WAN address can never be in, most specific first, each with the reason given.
_NOT_PUBLIC: tuple[tuple[Any, str], ...] = tuple(
    (ipaddress.ip_network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "a reserved \"this network\" address (0.0.0.0/8)"),
        ("127.0.0.0/8", "a loopback address (127.0.0.0/8)"),
        ("10.0.0.0/8", "an RFC 1918 private address"),
        ("172.16.0.0/12", "an RFC 1918 private address"),
        ("192.168.0.0/16", "an RFC 1918 private address"),
        ("100.64.0.0/10", "a carrier-grade NAT (100.64.0.0/10) address"),
        ("169.254.0.0/16", "a link-local address (169.254.0.0/16)"),
        ("192.0.2.0/24", "a documentation address (TEST-NET-1, 192.0.2.0/24)"),
        ("198.51.100.0/24", "a documentation address (TEST-NET-2, 198.51.100.0/24)"),
        ("203.0.113.0/24", "a documentation address (TEST-NET-3, 203.0.113.0/24)"),
        ("224.0.0.0/4", "a multicast address (224.0.0.0/4)"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
    )
)


def public_ipv4(value: Any) -> str:
    """A publicly routable IPv4 address (a router's WAN address, where a VPN's tunnels end).

    Refuses, naming the class: RFC 1918, loopback, CGNAT, link-local, multicast, reserved and the
    documentation ranges (and anything else Python does not call global, e.g. benchmarking 198.18/15).
    """
    value = _text(value)
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise FieldError("Must be an IPv4 address.") from None
    for network, reason in _NOT_PUBLIC:
        if address in network:
            raise FieldError(f"Must be a publicly routable address, not {reason}.")
    if not address.is_global:
        raise FieldError("Must be a publicly routable address, not a special-purpose (reserved) address.")
    return str(address)


# --------------------------------------------------------------------------------------------------
# Kubernetes and PEM material
# --------------------------------------------------------------------------------------------------

_PEM_CERT_MARK = "-----BEGIN CERTIFICATE-----"


def _yaml_position(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" (line {mark.line + 1})" if mark is not None else ""


def _named(items: Any, key: str, section: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(items, list) or not items:
        raise FieldError(f"The kubeconfig has no {section}.")
    named: dict[str, Mapping[str, Any]] = {}
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise FieldError(f"Every entry of {section} needs a name.")
        body = item.get(key) or {}
        if not isinstance(body, Mapping):
            raise FieldError(f"{section} entry {item['name']!r} is malformed.")
        named[item["name"]] = body
    return named


def parse_kubeconfig(value: Any) -> dict[str, Any]:
    """Parse and structurally check a kubeconfig; return it as a mapping (see `kubeconfig`)."""
    if isinstance(value, str):
        try:
            data = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise FieldError(f"Not valid YAML{_yaml_position(exc)}.") from None
    else:
        data = value
    if not isinstance(data, Mapping):
        raise FieldError("A kubeconfig must be a YAML mapping.")
    clusters = _named(data.get("clusters"), "cluster", "clusters")
    contexts = _named(data.get("contexts"), "context", "contexts")
    users = _named(data.get("users"), "user", "users")
    current = data.get("current-context")
    if not isinstance(current, str) or not current:
        raise FieldError("The kubeconfig has no current-context.")
    if current not in contexts:
        raise FieldError(f"The current-context {current[:64]!r} is not one of the kubeconfig's contexts.")
    context = contexts[current]
    cluster_name, user_name = context.get("cluster"), context.get("user")
    if not isinstance(cluster_name, str) or cluster_name not in clusters:
        raise FieldError("The current context's cluster is not defined in clusters.")
    cluster = clusters[cluster_name]
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        # The token or client key goes wherever this points: never in clear text over http.
        raise FieldError("The current context's cluster server must be an https:// URL.")
    if user_name is not None and (not isinstance(user_name, str) or user_name not in users):
        raise FieldError("The current context's user is not defined in users.")
    # Runs execute elsewhere: paths to files on the uploader's machine would silently not exist.
    for section, body, keys in (
        ("cluster", cluster, ("certificate-authority",)),
        ("user", users.get(user_name or "", {}), ("client-certificate", "client-key", "tokenFile")),
    ):
        for key in keys:
            if body.get(key):
                raise FieldError(
                    f"The kubeconfig's {section} refers to a local file ({key}); embed {key}-data instead."
                )
    return dict(data)


def kubeconfig(value: Any) -> str:
    """A self-contained kubeconfig whose current-context names a cluster with an http(s) server; returns YAML text."""
    data = parse_kubeconfig(value)
    if isinstance(value, str):
        return value.strip() + "\n"
    return yaml.safe_dump(data, sort_keys=False)


def kubeconfig_server(value: str) -> str:
    """The server URL of a (valid) kubeconfig's current cluster, shown on cards as the endpoint."""
    data = parse_kubeconfig(value)
    context = next(c["context"] for c in data["contexts"] if c["name"] == data["current-context"])
    cluster = next(c["cluster"] for c in data["clusters"] if c["name"] == context["cluster"])
    return str(cluster["server"])


def pem_certificate(value: Any) -> str:
    """One or more x509 certificates as PEM, or the base64 of PEM/DER (kubeconfig style); returns PEM text."""
    value = _text(value)
    if _PEM_CERT_MARK in value:
        raw = value.encode()
    else:
        try:
            raw = base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise FieldError("Must be a PEM certificate (-----BEGIN CERTIFICATE-----) or its base64.") from None
    try:
        if _PEM_CERT_MARK.encode() in raw:
            certs = x509.load_pem_x509_certificates(raw)
        else:
            certs = [x509.load_der_x509_certificate(raw)]
    except ValueError:
        raise FieldError("Not a readable x509 certificate.") from None
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode() for cert in certs)


def pem_private_key(value: Any) -> str:
    """An unencrypted PEM private key (RSA, EC or Ed25519); the key itself is never echoed back."""
    value = _text(value)
    if "-----BEGIN" not in value or "PRIVATE KEY-----" not in value:
        raise FieldError("Must be a PEM private key (-----BEGIN ... PRIVATE KEY-----).")
    try:
        serialization.load_pem_private_key(value.encode(), password=None)
    except TypeError:
        raise FieldError("Encrypted private keys are not supported; remove the passphrase first.") from None
    except ValueError:
        raise FieldError("Not a readable PEM private key.") from None
    return value + "\n"


# --------------------------------------------------------------------------------------------------
# Buckets, registries, paths
# --------------------------------------------------------------------------------------------------

_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_LIKE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_GCS_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$")
_DYNAMODB_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_KEY_PREFIX_CHARS = re.compile(r"^[A-Za-z0-9!_.*'()/=-]+$")


def s3_bucket(value: Any) -> str:
    """An S3 bucket name (general purpose bucket naming rules)."""
    value = _text(value)
    if not _S3_BUCKET.match(value):
        raise FieldError(
            "A bucket name is 3 to 63 lowercase letters, digits, dots or hyphens, "
            "starting and ending with a letter or digit."
        )
    if ".." in value or _IPV4_LIKE.match(value):
        raise FieldError("A bucket name cannot contain '..' or look like an IP address.")
    if value.startswith(_S3_RESERVED_PREFIXES) or value.endswith(_S3_RESERVED_SUFFIXES):
        raise FieldError("This bucket name uses a prefix or suffix reserved by AWS.")
    return value


def gcs_bucket(value: Any) -> str:
    """A Cloud Storage bucket name."""
    value = _text(value)
    if not _GCS_BUCKET_CHARS.match(value) or len(value) < 3:
        raise FieldError(
            "A bucket name uses lowercase letters, digits, dashes, underscores and dots, "
            "and starts and ends with a letter or digit."
        )
    parts = value.split(".")
    if len(value) > 222 or any(not part or len(part) > 63 for part in parts) or ("." not in value and len(value) > 63):
        raise FieldError("A bucket name is at most 63 characters (222 with dots, 63 per dot-separated part).")
    if _IPV4_LIKE.match(value):
        raise FieldError("A bucket name cannot look like an IP address.")
    if value.startswith("goog") or re.search(r"g[o0]{2}gle", value):
        raise FieldError('A bucket name cannot start with "goog" or contain "google".')
    return value


def dynamodb_table(value: Any) -> str:
    """A DynamoDB table name (3-255 letters, digits, '_', '-', '.')."""
    value = _text(value)
    if not _DYNAMODB_TABLE.match(value):
        raise FieldError("A table name is 3 to 255 letters, digits, '_', '-' or '.'.")
    return value


def key_prefix(value: Any) -> str:
    """A state object key prefix: relative (no leading slash), no '..' or empty segments; trailing slash dropped."""
    value = _text(value).rstrip("/")
    if not value:
        raise FieldError("Must not be only slashes.")
    if value.startswith("/"):
        raise FieldError("Must not start with a slash.")
    segments = value.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise FieldError("Must not contain '..', '.' or empty path segments.")
    if len(value) > 512 or not _KEY_PREFIX_CHARS.match(value):
        raise FieldError("Use letters, digits and ! _ . * ' ( ) = - / only (at most 512 characters).")
    return value


def join_object_key(*parts: str | None) -> str:
    """Join object key parts with '/', skipping empty ones; each part must pass `key_prefix` (else ValueError).

    Used by state backends to place a project's state under the connection's prefix; a bad part is
    a programming error of the caller, hence ValueError rather than FieldError.
    """
    cleaned: list[str] = []
    for part in parts:
        if part:
            try:
                cleaned.append(key_prefix(part))
            except FieldError as exc:
                raise ValueError(f"Invalid state path {part!r}: {exc.message}") from None
    return "/".join(cleaned)


def dockerhub_namespace(value: Any) -> str:
    """A Docker Hub username or organization: 4-30 lowercase letters and digits."""
    value = _text(value)
    if not re.fullmatch(r"[a-z0-9]{4,30}", value):
        raise FieldError("A Docker Hub namespace is 4 to 30 lowercase letters and digits.")
    return value


# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------

_BEARER_PREFIX = re.compile(r"^(bearer|token)\s", re.IGNORECASE)


def token_min_length(n: int) -> Callable[[Any], str]:
    """Validator factory: a single-word token of at least `n` characters."""

    def validate(value: Any) -> str:
        value = _text(value)
        if _BEARER_PREFIX.match(value):
            raise FieldError("Paste the token only, without a 'Bearer' or 'token' prefix.")
        if re.search(r"\s", value):
            raise FieldError("A token cannot contain spaces or line breaks.")
        if len(value) < n:
            raise FieldError(f"Too short for a token: expected at least {n} characters.")
        return value

    validate.__name__ = f"token_min_length_{n}"
    return validate


_token20 = token_min_length(20)
_GITHUB_PREFIXES = ("ghp_", "github_pat_", "gho_", "ghu_", "ghs_", "ghr_")


def github_token(value: Any) -> str:
    """A GitHub token: classic ``ghp_``, fine-grained ``github_pat_``, OAuth ``gho_``, or another 20+ char token."""
    value = _token20(value)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
        raise FieldError("A GitHub token contains only letters, digits and underscores.")
    prefix = next((p for p in _GITHUB_PREFIXES if value.startswith(p)), None)
    if prefix == "ghr_":
        raise FieldError("This is a refresh token; use the access token instead.")
    if prefix and len(value) - len(prefix) < 30:
        raise FieldError("This token looks truncated: copy it again.")
    return value


def oauth_refresh_token(value: Any) -> str:
    """An OAuth refresh token as the provider issued it (GitHub ``ghr_``, GitLab hex): one token, no spaces."""
    value = _token20(value)
    if not re.fullmatch(r"[A-Za-z0-9_.~+/=-]+", value):
        raise FieldError("A refresh token is one word of letters, digits and - _ . ~ + / =.")
    return value


def gitlab_token(value: Any) -> str:
    """A GitLab personal/project/group access token (``glpat-``) or OAuth access token."""
    value = _token20(value)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise FieldError("A GitLab token contains only letters, digits, '-', '_' and '.'.")
    if value.startswith(("glrt-", "glcbt-", "glft-", "glptt-", "GR1348941")):
        raise FieldError(
            "This is a runner, CI job, feed or trigger token; it cannot call the API. Use an access token."
        )
    return value


def digitalocean_token(value: Any) -> str:
    """A DigitalOcean token: ``dop_v1_``/``doo_v1_`` + 64 hex characters, or a legacy 64-hex token."""
    value = _token20(value)
    if not re.fullmatch(r"(do[por]_v1_)?[0-9a-f]{64}", value):
        raise FieldError("A DigitalOcean token is dop_v1_ followed by 64 hexadecimal characters.")
    return value


def scaleway_access_key(value: Any) -> str:
    """A Scaleway access key: SCW followed by 17 upper-case letters or digits."""
    value = _text(value)
    if not re.fullmatch(r"SCW[A-Z0-9]{17}", value):
        raise FieldError("A Scaleway access key is SCW followed by 17 upper-case letters or digits.")
    return value


def cloudflare_account_id(value: Any) -> str:
    """A Cloudflare account id: 32 hexadecimal characters."""
    value = _text(value).lower()
    if not re.fullmatch(r"[0-9a-f]{32}", value):
        raise FieldError("A Cloudflare account ID is 32 hexadecimal characters.")
    return value


def github_login(value: Any) -> str:
    """A GitHub user or organization login: 1-39 letters, digits or single inner hyphens."""
    value = _text(value)
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}", value):
        raise FieldError("A GitHub login is up to 39 letters, digits or single hyphens, not at the start or end.")
    return value


def gitlab_group_path(value: Any) -> str:
    """A GitLab group full path (``group`` or ``group/subgroup``)."""
    value = _text(value).strip("/")
    segment = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    parts = value.split("/")
    if not value or len(value) > 255 or not all(segment.match(p) for p in parts):
        raise FieldError("A group path is letters, digits, '_', '-' and '.', with '/' between subgroups.")
    if any(p.endswith((".git", ".atom")) or p.endswith(".") for p in parts):
        raise FieldError("A group path segment cannot end with '.', '.git' or '.atom'.")
    return value


def proxmox_token_id(value: Any) -> str:
    """A Proxmox API token id: ``user@realm!tokenname``."""
    value = _text(value)
    if not re.fullmatch(r"[A-Za-z0-9._-]+@[A-Za-z0-9._-]+![A-Za-z][A-Za-z0-9._-]*", value):
        raise FieldError("A token ID looks like user@realm!tokenname, e.g. terraform@pve!runner.")
    return value


def single_line_name(max_length: int) -> Callable[[Any], str]:
    """Validator factory for free-form names (vSphere inventory names, user names) of bounded length."""

    def validate(value: Any) -> str:
        value = _text(value)
        if len(value) > max_length:
            raise FieldError(f"Must be at most {max_length} characters.")
        return value

    validate.__name__ = f"single_line_name_{max_length}"
    return validate
