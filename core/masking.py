"""Secret masking for logs.

Two layers, so a secret cannot reach a log line by any path:

* Registered values: `use_credentials` registers every decrypted value for the duration of its use
  (reference-counted, so nested uses of one secret do not unregister it early).
* Well-known formats, even when never registered: AWS secret keys next to an AKIA/ASIA key id,
  GitHub and GitLab tokens, PEM private keys, JWTs, and `secret=...`-style assignments.

Masking happens when a record is *created* (a LogRecord factory), so every handler, including test
capture handlers, sees the masked text; `SecretMaskingFilter` does the same for handlers or loggers
configured explicitly in LOGGING.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

MASK = "[masked]"
# Shorter values would mask ordinary words; such secrets are still never logged by our own code.
MIN_REGISTERED_LENGTH = 6

_lock = threading.Lock()
_registered: Counter[str] = Counter()
_pattern: re.Pattern[str] | None = None

KNOWN_FORMATS = [
    # PEM private keys (RSA, EC, PKCS#8, OpenSSH, encrypted)
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
    # GitHub tokens: classic, OAuth, user-to-server, server-to-server, refresh, fine-grained
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    # GitLab personal/project/group access, deploy, runner, OAuth tokens
    re.compile(r"\b(?:glpat|gldt|glrt|gloas|glptt|glft|glsoat|glcbt|glimt|glagent)-[A-Za-z0-9_\-]{20,255}"),
    # JSON Web Tokens (header.payload.signature, header starts with {" )
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # Slack/DigitalOcean style prefixed tokens
    re.compile(r"\b(?:dop_v1_[a-f0-9]{64}|xox[abprs]-[A-Za-z0-9-]{10,})\b"),
]
# An AWS secret access key: 40 base64 characters near an access key id (AKIA long-term, ASIA session).
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
_SECRET_ACCESS_KEY = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
# key=value / "key": "value" assignments whose key says secret.
_ASSIGNMENT = re.compile(
    r"""(?P<key>(?:secret|password|passwd|token|api[_-]?key|private[_-]?key|client[_-]?secret)[A-Za-z_]*)"""
    r"""(?P<sep>["']?\s*[:=]\s*["']?)(?P<value>[^\s"',;&}]{6,})""",
    re.I,
)


def _rebuild() -> None:
    global _pattern
    values = sorted((v for v in _registered if v), key=len, reverse=True)
    _pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None


def register(values: Iterable[str]) -> list[str]:
    """Start masking these values; returns the ones actually registered (for `unregister`)."""
    added = [v for v in values if isinstance(v, str) and len(v) >= MIN_REGISTERED_LENGTH]
    if added:
        with _lock:
            _registered.update(added)
            _rebuild()
    return added


def unregister(values: Iterable[str]) -> None:
    with _lock:
        _registered.subtract(values)
        for value in [v for v, n in _registered.items() if n <= 0]:
            del _registered[value]
        _rebuild()


@contextmanager
def registered(values: Iterable[str]) -> Iterator[None]:
    added = register(values)
    try:
        yield
    finally:
        unregister(added)


def secret_values(data: object) -> list[str]:
    """Every string inside a (nested) secrets payload, plus each line of multi-line values."""
    out: list[str] = []
    if isinstance(data, dict):
        for value in data.values():
            out.extend(secret_values(value))
    elif isinstance(data, list | tuple | set):
        for value in data:
            out.extend(secret_values(value))
    elif isinstance(data, str) and data:
        out.append(data)
        if "\n" in data:
            out.extend(line.strip() for line in data.splitlines() if len(line.strip()) >= MIN_REGISTERED_LENGTH)
    return out


def _mask_access_key_pairs(text: str) -> str:
    if not _ACCESS_KEY_ID.search(text):
        return text
    return _SECRET_ACCESS_KEY.sub(lambda m: MASK if not _ACCESS_KEY_ID.fullmatch(m.group(0)) else m.group(0), text)


def mask(text: str) -> str:
    """`text` with every registered secret and every well-known secret format replaced by MASK."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for known in KNOWN_FORMATS:
        text = known.sub(MASK, text)
    text = _mask_access_key_pairs(text)
    return _ASSIGNMENT.sub(_mask_assignment, text)


def _looks_like_secret(value: str) -> bool:
    """A credential has a digit or symbol, or is long; prose ("Incorrect", "expired") is a plain word."""
    return len(value) >= 16 or not value.isalpha()


def _mask_assignment(match: re.Match[str]) -> str:
    """`key=value` and quoted `"key": "value"` are assignments whatever the value; after a bare
    `key: ` the value must look like a credential, so that provider prose such as
    `Token: Incorrect token audience` keeps its words."""
    sep, value = match.group("sep"), match.group("value")
    is_assignment = "=" in sep or "'" in sep or '"' in sep
    if not is_assignment and not _looks_like_secret(value):
        return match.group(0)
    return f"{match.group('key')}{sep}{MASK}"


def scrub(text: str, *payloads: object) -> str:
    """`text` without any value of the given secret payloads nor any well-known secret format.

    For messages built while credentials are at hand (a provider check's reason) that end up in the
    database and on a card: the payload values are removed even when nothing registered them.
    """
    for value in sorted(secret_values(list(payloads)), key=len, reverse=True):
        if len(value) >= MIN_REGISTERED_LENGTH:
            text = text.replace(value, MASK)
    return mask(text)


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render the message once, mask it, and freeze it (args cleared) so no handler sees the raw text."""
    if getattr(record, "_secrets_masked", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: mask what we have
        message = str(record.msg)
    record.msg = mask(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
    record._secrets_masked = True
    return record


class SecretMaskingFilter(logging.Filter):
    """Logging filter for handlers and loggers: masks, never drops."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


_installed = False


def install() -> None:
    """Mask at record creation (every handler sees masked text) and on the root logger and its handlers."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        return mask_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    root = logging.getLogger()
    masking_filter = SecretMaskingFilter()
    root.addFilter(masking_filter)
    for handler in root.handlers:
        handler.addFilter(masking_filter)
    _installed = True
