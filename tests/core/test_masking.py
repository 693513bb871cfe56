"""Log masking: registered secrets and well-known formats never reach a log handler."""

from __future__ import annotations

import logging

import pytest

from core import masking
from tests.connections.provider_examples import rsa_private_key_pem

log = logging.getLogger("tests.masking")

UNREGISTERED = {
    "aws pair": ("AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG"),
    "github classic": ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 used", "ghp_abcdefghij"),
    "github fine-grained": ("github_pat_11ABCDEFG0123456789_abcdefghijabcdefghij here", "github_pat_11ABC"),
    "gitlab": ("glpat-AbCdEfGhIjKlMnOpQrSt failed", "glpat-AbCdEf"),
    "jwt": ("auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36P", "SflKxwRJSMeKKF2QT4"),
    "assignment": ('{"client_secret": "s3cr3t-value-123"}', "s3cr3t-value-123"),
}


@pytest.mark.parametrize("name", list(UNREGISTERED))
def test_well_known_formats_are_masked_unregistered(caplog, name):
    text, fragment = UNREGISTERED[name]
    with caplog.at_level(logging.INFO):
        log.info("something happened: %s", text)
    assert fragment not in caplog.text and masking.MASK in caplog.text


def test_pem_private_key_is_masked(caplog):
    pem = rsa_private_key_pem()
    with caplog.at_level(logging.INFO):
        log.warning("bad key %s", pem)
    body_line = pem.splitlines()[3]
    assert body_line not in caplog.text and "PRIVATE KEY" not in caplog.text


def test_aws_like_string_without_key_id_is_left_alone(caplog):
    sha = "a" * 40
    with caplog.at_level(logging.INFO):
        log.info("commit %s", sha)
    assert sha in caplog.text


def test_registered_values_are_masked_in_messages_args_and_tracebacks(caplog):
    secret = "CANARY-registered-4711"
    with masking.registered([secret]), caplog.at_level(logging.INFO):
        log.info("value is " + secret)
        log.info("value is %s", secret)
        try:
            raise ValueError(f"failed with {secret}")
        except ValueError:
            log.exception("boom")
    assert secret not in caplog.text
    assert caplog.text.count(masking.MASK) >= 3
    with caplog.at_level(logging.INFO):
        log.info("after use: %s", secret)
    assert secret in caplog.records[-1].getMessage()  # unregistered once the use ends


def test_nested_registrations_are_reference_counted():
    secret = "CANARY-nested-0815"
    with masking.registered([secret]):
        with masking.registered([secret]):
            pass
        assert masking.mask(secret) == masking.MASK
    assert masking.mask(secret) == secret


def test_multiline_secret_lines_are_registered():
    values = masking.secret_values({"kubeconfig": "line-one-secret\nline-two-secret"})
    assert {"line-one-secret", "line-two-secret"} <= set(values)


@pytest.mark.parametrize(
    "prose",
    [
        "Token: Incorrect token audience",
        "invalid token: Expired signature",
        "password: Required",
        "API key: missing from request",
    ],
)
def test_provider_prose_after_a_key_keeps_its_words(prose):
    """Ordinary words after `token:` are a provider's message, not a credential."""
    assert masking.mask(prose) == prose


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("token: s3cr3t-4711", "s3cr3t-4711"),
        ("password=Incorrect", "Incorrect"),
        ('"token": "plainwords"', "plainwords"),
        ("client_secret: averyveryverylongplainsecret", "averyveryverylongplainsecret"),
    ],
)
def test_credential_looking_values_and_real_assignments_are_still_masked(text, value):
    masked = masking.mask(text)
    assert value not in masked and masking.MASK in masked
