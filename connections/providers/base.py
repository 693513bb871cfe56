"""The provider framework: field declarations, validation, and credential materialization.

Every provider module declares *what* a connection of that provider holds (public fields shown on
cards and in the API, secret fields that only ever live encrypted) and *how* those credentials reach
a process (environment variables and private files). Everything here is pure Python with no Django
model imports, so forms, serializers, services, Celery tasks and the run launcher can all share one
definition, and adding a provider touches only its own module.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from ipaddress import ip_address, ip_network
from typing import Any, ClassVar
from urllib.parse import urlsplit

from . import validators as v
from .errors import FieldError, MaterializeError, ProviderValidationError

__all__ = [
    "CATEGORIES",
    "CATEGORY_LABELS",
    "FIELD_KINDS",
    "PLANS",
    "ROUTER_VENDOR_CHOICES",
    "AuthMethod",
    "CloudConnectionProvider",
    "Field",
    "FieldError",
    "MaterializeError",
    "Materialized",
    "OnPremProvider",
    "Provider",
    "ProviderValidationError",
    "b64",
    "declared_endpoints",
    "federation_panel",
    "onprem_network_fields",
]

FIELD_KINDS = frozenset(
    {"string", "text", "integer", "choice", "url", "json", "pem", "yaml", "cidr", "ip", "connection_ref"}
)

# Order matters: it is the order of the sections on the connections page.
CATEGORY_LABELS: dict[str, str] = {
    "cloud": "Cloud providers",
    "git": "Git providers",
    "registry": "Container registries",
    "state_backend": "Terraform state backends",
    "kubernetes": "Kubernetes",
    "on_prem": "On-premises",
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_LABELS)

# Ordered from least to most capable; an organization on plan N may use providers requiring <= N.
PLANS: tuple[str, ...] = ("free", "starter", "enterprise")

# Platform endpoints declared by providers (`Provider.endpoints`), filled as provider classes are defined.
_DECLARED_ENDPOINTS: dict[str, str] = {}


def declared_endpoints() -> dict[str, str]:
    """Every platform endpoint a provider declared, name -> default URL."""
    return dict(_DECLARED_ENDPOINTS)


NON_FIELD_ERRORS = "non_field_errors"
AUTH_METHOD_KEY = "auth_method"

MSG_REQUIRED = "This field is required."
MSG_UNKNOWN = "Unknown field."
MSG_SECRET_IN_CONFIG = "This field is secret: send it in secrets."
MSG_PUBLIC_IN_SECRETS = "This field is not secret: send it in config."

# Size caps stop a form or API client from storing megabytes in a column meant for a token.
_SINGLE_LINE_KINDS = frozenset({"string", "url", "cidr", "ip", "connection_ref", "choice"})
_MAX_SINGLE_LINE = 2048
_MAX_MULTI_LINE = 256 * 1024
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


# --------------------------------------------------------------------------------------------------
# Declarations
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One configurable value of a provider: how forms render it, how the API validates it, where it is stored.

    ``secret`` fields go to the encrypted payload and are never shown again; all others are public
    config. ``auth_methods`` limits a field to some auth methods (None = all); two fields may share a
    name if their auth methods are disjoint (e.g. an endpoint that is optional for one method and
    required for another). Validators run in order, each receiving the previous one's result.
    """

    name: str
    label: str
    kind: str
    secret: bool = False
    required: bool = True
    default: Any = None
    help_text: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    validators: tuple[Callable[[Any], Any], ...] = ()
    auth_methods: tuple[str, ...] | None = None
    ref_providers: tuple[str, ...] = ()
    placeholder: str = ""
    min_value: int | None = None
    max_value: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FIELD_KINDS:
            raise TypeError(f"Field {self.name!r}: unknown kind {self.kind!r}.")
        if self.kind == "choice" and not self.choices:
            raise TypeError(f"Field {self.name!r}: a choice field needs choices.")
        if self.kind == "connection_ref" and not self.ref_providers:
            raise TypeError(f"Field {self.name!r}: a connection_ref field needs ref_providers.")
        if self.kind == "connection_ref" and self.secret:
            raise TypeError(f"Field {self.name!r}: a connection reference is never secret.")
        if self.secret and self.default is not None:
            raise TypeError(f"Field {self.name!r}: secret fields cannot have defaults.")

    def applies_to(self, auth_method: str) -> bool:
        """Whether this field is part of the given auth method's form."""
        return self.auth_methods is None or auth_method in self.auth_methods

    def clean(self, value: Any) -> Any:
        """Coerce `value` to this field's kind, then run its validators; raise FieldError if invalid."""
        value = _coerce(self, value)
        for validator in self.validators:
            value = validator(value)
        return value

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able description for the providers endpoint and dynamic forms (no callables)."""
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "secret": self.secret,
            "required": self.required,
            "default": self.default,
            "help_text": self.help_text,
            "placeholder": self.placeholder,
            "choices": [{"value": value, "label": label} for value, label in self.choices],
            "auth_methods": list(self.auth_methods) if self.auth_methods is not None else None,
            "ref_providers": list(self.ref_providers),
            "min_value": self.min_value,
            "max_value": self.max_value,
        }


@dataclass(frozen=True)
class AuthMethod:
    """One way of authenticating to a provider.

    ``stores_secret`` is False for identity-federation methods (assume role, OIDC, a reference to
    another connection): nothing secret is typed in, which the UI uses to say so.
    """

    code: str
    label: str
    help_text: str = ""
    stores_secret: bool = True


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _coerce(field: Field, value: Any) -> Any:
    """Type-level checks shared by every field of a kind; semantics live in the field's validators."""
    kind = field.kind
    if kind == "integer":
        return _coerce_integer(field, value)
    if kind == "json":
        return _coerce_json(value)
    if kind == "yaml" and isinstance(value, Mapping):
        return value  # the yaml validator serializes mappings itself
    if kind == "string" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # e.g. an account id sent as a JSON number; digit rules still apply
    if not isinstance(value, str):
        raise FieldError("Must be a string.")
    value = value.strip()
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a JSON body would break env vars and files later
        raise FieldError("Must be valid Unicode text.") from None
    if kind in _SINGLE_LINE_KINDS:
        if len(value) > _MAX_SINGLE_LINE:
            raise FieldError(f"Must be at most {_MAX_SINGLE_LINE} characters.")
        if _CONTROL_CHARS.search(value):
            # Single-line values end up in environment variables and generated files.
            raise FieldError("Must be a single line without control characters.")
    elif len(value) > _MAX_MULTI_LINE:
        raise FieldError(f"Must be at most {_MAX_MULTI_LINE // 1024} KiB.")
    if kind == "choice":
        return _coerce_choice(field, value)
    return value


def _coerce_integer(field: Field, value: Any) -> int:
    if isinstance(value, bool):
        raise FieldError("Must be a whole number.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,12}", value.strip()):
        number = int(value.strip())
    else:
        raise FieldError("Must be a whole number.")
    if field.min_value is not None and number < field.min_value:
        raise FieldError(f"Must be at least {field.min_value}.")
    if field.max_value is not None and number > field.max_value:
        raise FieldError(f"Must be at most {field.max_value}.")
    return number


def _coerce_json(value: Any) -> Any:
    if isinstance(value, dict | list):
        return value
    if not isinstance(value, str):
        raise FieldError("Must be a JSON object.")
    if len(value) > _MAX_MULTI_LINE:
        raise FieldError(f"Must be at most {_MAX_MULTI_LINE // 1024} KiB.")
    try:
        return json.loads(value)
    except ValueError as exc:
        # The decoder's message has a position only, never the content (which may be a secret).
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        where = f" (line {line}, column {col})" if line is not None else ""
        raise FieldError(f"Not valid JSON{where}.") from None


def _coerce_choice(field: Field, value: str) -> str:
    for choice, _label in field.choices:
        if value == choice:
            return choice
    for choice, _label in field.choices:
        if value.lower() == choice.lower():
            return choice
    allowed = ", ".join(choice for choice, _label in field.choices)
    raise FieldError(f"Select a valid choice: {allowed}.")


# --------------------------------------------------------------------------------------------------
# Materialization
# --------------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(file|dir):([A-Za-z0-9._/-]+)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Materialized:
    """Credentials ready to hand to a child process: environment variables plus private files.

    Providers do not know where files will live, so env values refer to them by placeholder:
    ``{file:<name>}`` becomes the absolute path of ``files[<name>]`` and ``{dir:<subdir>}`` the
    absolute path of a subdirectory holding some of the files (e.g. ``DOCKER_CONFIG={dir:docker}``
    with a file ``docker/config.json``). File names are relative POSIX paths without ``..``.
    Files listed in ``templated`` also have placeholders replaced inside their content (GCP
    workload identity needs the path of its token file inside its credentials file), which is why
    the runtime should write files with `write()` rather than copying ``files`` verbatim.
    ``sensitive`` lists single-line values (secrets and values derived from them) that the logging
    filter and the run output redactor must mask.
    """

    env: dict[str, str] = dc_field(default_factory=dict)
    files: dict[str, bytes] = dc_field(default_factory=dict)
    templated: set[str] = dc_field(default_factory=set)
    sensitive: set[str] = dc_field(default_factory=set)

    def __post_init__(self) -> None:
        for name in self.files:
            _check_file_name(name)
        for key, value in self.env.items():
            _check_env(key, value)

    def set_env(self, key: str, value: str) -> None:
        """Set a public environment variable."""
        _check_env(key, value)
        self.env[key] = value

    def set_secret_env(self, key: str, value: str) -> None:
        """Set an environment variable whose value must be masked wherever it could be printed."""
        self.set_env(key, value)
        if value:
            self.sensitive.add(value)

    def add_file(self, name: str, content: bytes | str, *, templated: bool = False) -> str:
        """Add a private file and return the ``{file:<name>}`` placeholder that points to it."""
        _check_file_name(name)
        self.files[name] = content.encode() if isinstance(content, str) else content
        if templated:
            self.templated.add(name)
        return f"{{file:{name}}}"

    def directories(self) -> set[str]:
        """Every subdirectory implied by the file names (so ``{dir:...}`` can name any of them)."""
        dirs: set[str] = set()
        for name in self.files:
            parent = posixpath.dirname(name)
            while parent:
                dirs.add(parent)
                parent = posixpath.dirname(parent)
        return dirs

    def _substitute(self, text: str, root: str) -> str:
        dirs = self.directories()

        def replace(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2)
            if (kind == "file" and name in self.files) or (kind == "dir" and name in dirs):
                return os.path.join(root, *name.split("/"))
            return match.group(0)  # not ours: leave user-supplied text untouched

        return _PLACEHOLDER.sub(replace, text)

    def resolve(self, dirpath: str | os.PathLike[str]) -> dict[str, str]:
        """The environment with every file/dir placeholder replaced by an absolute path under `dirpath`."""
        root = os.path.abspath(os.fspath(dirpath))
        return {key: self._substitute(value, root) for key, value in self.env.items()}

    def render_files(self, dirpath: str | os.PathLike[str]) -> dict[str, bytes]:
        """File contents as they must be written under `dirpath` (templated files resolved)."""
        root = os.path.abspath(os.fspath(dirpath))
        rendered = dict(self.files)
        for name in self.templated:
            if name in rendered:
                rendered[name] = self._substitute(rendered[name].decode(), root).encode()
        return rendered

    def write(self, dirpath: str | os.PathLike[str]) -> dict[str, str]:
        """Write the files 0600 (directories 0700) under `dirpath` and return the resolved environment.

        `dirpath` must be a private directory (e.g. from ``tempfile.mkdtemp()``); files are created
        exclusively so a pre-planted file or symlink makes this fail instead of being followed.
        """
        root = os.path.abspath(os.fspath(dirpath))
        for sub in sorted(self.directories(), key=len):
            os.mkdir(os.path.join(root, *sub.split("/")), 0o700)
        for name, content in self.render_files(root).items():
            path = os.path.join(root, *name.split("/"))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
        return self.resolve(root)

    def merged(self, other: Materialized) -> Materialized:
        """A new Materialized with `other` layered on top (its env vars win; file names must not clash)."""
        clash = {name for name in other.files if name in self.files and other.files[name] != self.files[name]}
        if clash:
            raise MaterializeError(f"Materialized files clash: {', '.join(sorted(clash))}.")
        return Materialized(
            env={**self.env, **other.env},
            files={**self.files, **other.files},
            templated=self.templated | other.templated,
            sensitive=self.sensitive | other.sensitive,
        )


def _check_file_name(name: str) -> None:
    normalized = posixpath.normpath(name)
    if (
        not name
        or name != normalized
        or name.startswith("/")
        or "\\" in name
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise MaterializeError(f"Materialized file name {name!r} must be a normalized relative path.")


def _check_env(key: str, value: str) -> None:
    if not _ENV_NAME.match(key):
        raise MaterializeError(f"Invalid environment variable name {key!r}.")
    if not isinstance(value, str) or "\x00" in value:
        raise MaterializeError(f"Environment variable {key} must be a string without NUL bytes.")


# --------------------------------------------------------------------------------------------------
# Providers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoConnection:
    """A demo connection `seed_demo` may create for this provider: values that can never reach a real
    system (documented example keys, a private address that does not exist)."""

    name: str
    auth_method: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    description: str = ""


class Provider:
    """Base class of every provider: declarations as class attributes, behaviour as methods.

    Instances are stateless and shared (see the registry in ``__init__``). Subclasses override
    `clean_extra` for cross-field checks and `_materialize` for credential injection; the public
    `clean` and `materialize` do the shared bookkeeping so no provider can forget it.
    """

    code: ClassVar[str] = ""
    label: ClassVar[str] = ""
    category: ClassVar[str] = ""
    description: ClassVar[str] = ""
    icon: ClassVar[str] = ""
    color: ClassVar[str] = "#64748b"
    auth_methods: ClassVar[tuple[AuthMethod, ...]] = ()
    fields: ClassVar[tuple[Field, ...]] = ()
    summary_fields: ClassVar[tuple[str, ...]] = ()
    requires_plan: ClassVar[str] = "free"
    test_description: ClassVar[str] = ""
    #: The platform endpoints this provider calls, name -> real public base URL (overridable per name
    #: with the PROVIDER_ENDPOINTS setting; see `contract.endpoint`).
    endpoints: ClassVar[dict[str, str]] = {}
    #: A `contract.RoleSupport` when connections of this provider take connection roles.
    role_support: ClassVar[Any] = None
    #: An `oauth.OAuthSupport` when one auth method is filled in by an OAuth authorization-code flow.
    oauth: ClassVar[Any] = None
    #: Public fields that decide where the stored secret is sent (a URL, a host, a port, a CA): changing
    #: one requires entering the secret again, so a stored secret can never be redirected to a new host.
    destination_fields: ClassVar[tuple[str, ...]] = ()
    #: What this provider's credentials deploy, for selection by resource type: Terraform resource
    #: type prefixes (``aws_`` for ``aws_db_instance``) and the seed's resource kinds ("AWS RDS").
    terraform_prefixes: ClassVar[tuple[str, ...]] = ()
    #: A `DemoConnection` for `seed_demo` (None: the demo has none of this provider).
    demo_connection: ClassVar[Any] = None
    resource_kinds: ClassVar[tuple[str, ...]] = ()
    #: A `costs.CostSource` when the platform can pull this provider's bill (FinOps); None: not available.
    cost_source: ClassVar[Any] = None
    #: The Terraform provider (local name) whose provider block takes `default_tags { tags = {...} }`:
    #: runs tag what they create through it (project, environment) so cost is attributed. None: no such
    #: provider-wide mechanism (labels set per resource), runs add nothing.
    terraform_default_tags_provider: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code:
            cls._check_declarations()
        for name, url in cls.endpoints.items():
            if _DECLARED_ENDPOINTS.setdefault(name, url) != url:
                raise TypeError(f"Provider {cls.code!r}: endpoint {name!r} is already declared with another URL.")

    @classmethod
    def _check_declarations(cls) -> None:
        """Fail at import time, not at the first request, when a provider module is inconsistent."""
        where = f"Provider {cls.code!r}"
        if cls.category not in CATEGORY_LABELS:
            raise TypeError(f"{where}: unknown category {cls.category!r}.")
        if cls.requires_plan not in PLANS:
            raise TypeError(f"{where}: unknown plan {cls.requires_plan!r}.")
        if not cls.auth_methods:
            raise TypeError(f"{where}: declares no auth methods.")
        codes = [method.code for method in cls.auth_methods]
        if len(set(codes)) != len(codes):
            raise TypeError(f"{where}: duplicate auth method codes.")
        for field in cls.fields:
            unknown = set(field.auth_methods or ()) - set(codes)
            if unknown:
                raise TypeError(f"{where}: field {field.name!r} names unknown auth methods {sorted(unknown)}.")
        for code in codes:
            names = [field.name for field in cls.fields if field.applies_to(code)]
            if len(set(names)) != len(names):
                raise TypeError(f"{where}: duplicate field names for auth method {code!r}.")
        public = {field.name for field in cls.fields if not field.secret}
        if not cls.summary_fields or not set(cls.summary_fields) <= public:
            raise TypeError(f"{where}: summary_fields must be a non-empty subset of the public fields.")

    # -- lookups -----------------------------------------------------------------------------------

    def oauth_for(self, auth_method: str) -> Any:
        """The `oauth.OAuthSupport` whose flow fills in this auth method's secrets, or None (typed in)."""
        return self.oauth if self.oauth is not None and self.oauth.auth_method == auth_method else None

    def get_auth_method(self, auth_method: str) -> AuthMethod:
        """The AuthMethod with this code, or a ProviderValidationError keyed ``auth_method``."""
        for method in self.auth_methods:
            if method.code == auth_method:
                return method
        allowed = ", ".join(method.code for method in self.auth_methods)
        raise ProviderValidationError(
            {AUTH_METHOD_KEY: [f"Unknown auth method for {self.label}: {str(auth_method)[:64]!r}. Choose: {allowed}."]}
        )

    @property
    def auth_method_codes(self) -> tuple[str, ...]:
        """Codes of the auth methods, the first being the default one offered by forms."""
        return tuple(method.code for method in self.auth_methods)

    def fields_for(self, auth_method: str) -> list[Field]:
        """Fields that make up the given auth method's form, in declaration order."""
        self.get_auth_method(auth_method)
        return [field for field in self.fields if field.applies_to(auth_method)]

    def public_fields(self, auth_method: str) -> list[Field]:
        """Fields stored in the connection's public config."""
        return [field for field in self.fields_for(auth_method) if not field.secret]

    def secret_fields(self, auth_method: str) -> list[Field]:
        """Fields stored only in the encrypted secret payload."""
        return [field for field in self.fields_for(auth_method) if field.secret]

    def get_field(self, auth_method: str, name: str) -> Field | None:
        """The field called `name` for this auth method, if any."""
        return next((field for field in self.fields_for(auth_method) if field.name == name), None)

    def ref_field(self, auth_method: str) -> Field | None:
        """The connection_ref field the runtime must resolve before `materialize`, if this method has one."""
        return next((field for field in self.fields_for(auth_method) if field.kind == "connection_ref"), None)

    def destinations(self, auth_method: str) -> tuple[str, ...]:
        """The destination fields that apply to this auth method, when it stores a secret at all."""
        if not self.secret_fields(auth_method):
            return ()
        names = {field.name for field in self.public_fields(auth_method)}
        return tuple(name for name in self.destination_fields if name in names)

    def destination_moves(
        self, auth_method: str, config: Mapping[str, Any], changes: Mapping[str, Any]
    ) -> list[str]:
        """The destination fields whose value `changes` would change."""
        return [f for f in self.destinations(auth_method) if f in changes and changes[f] != config.get(f)]

    def destination_fingerprint(self, auth_method: str, config: Mapping[str, Any]) -> str:
        """A hash of the destination fields' values ("" when there are none), bound to a secret when entered."""
        fields = self.destinations(auth_method)
        if not fields:
            return ""
        where = {name: config.get(name) for name in fields}
        return hashlib.sha256(json.dumps(where, sort_keys=True, default=str).encode()).hexdigest()

    def external_id_required(self, auth_method: str) -> bool:
        """Whether the platform must generate an ExternalId (confused-deputy protection) for this method."""
        self.get_auth_method(auth_method)
        return False

    def trust_setup(self, external_id: str) -> dict[str, Any] | None:
        """What the customer must put on their side for the platform's External ID, ready to paste:
        ``{"platform_account_id", "policy"}``. Raise `contract.SetupUnavailable` when it cannot be known yet."""
        return None

    def federation_setup(
        self, auth_method: str, config: Mapping[str, Any], *, issuer: str, subject: str
    ) -> dict[str, Any] | None:
        """What the customer enters on their side so the platform's OIDC tokens are trusted (federated methods).

        `issuer` is the platform's OIDC issuer URL and `subject` the ``sub`` its tokens carry for this
        connection. Return None when the method does not federate; otherwise a `federation_panel` dict:
        values to type in, commands to run, documents (JSON) to paste and notes, so the page and the API
        render every provider the same way.
        """
        return None

    # -- validation --------------------------------------------------------------------------------

    def clean(
        self,
        auth_method: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        *,
        partial: bool = False,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Validate a payload and return ``(config, secrets)`` cleaned, with defaults applied.

        With ``partial=True`` (a PATCH of public fields, a secret rotation) missing fields are not
        errors and defaults are not applied; an optional field sent blank comes back as ``None``,
        meaning "clear it". Callers that want cross-field checks on an update should merge the
        stored config with the change and pass that. Raises ProviderValidationError with every
        problem found.
        """
        self.get_auth_method(auth_method)
        errors: dict[str, list[str]] = {}
        if not isinstance(config, Mapping) or not isinstance(secrets, Mapping):
            raise ProviderValidationError({NON_FIELD_ERRORS: ["config and secrets must be JSON objects."]})
        fields = {field.name: field for field in self.fields_for(auth_method)}
        misplaced = self._check_keys(auth_method, fields, config, secrets, errors)

        cleaned_config: dict[str, Any] = {}
        cleaned_secrets: dict[str, Any] = {}
        for field in fields.values():
            if field.name in misplaced:
                continue
            source = secrets if field.secret else config
            target = cleaned_secrets if field.secret else cleaned_config
            raw = source.get(field.name)
            if _is_blank(raw):
                self._handle_missing(field, field.name in source, partial, target, errors)
                continue
            try:
                target[field.name] = field.clean(raw)
            except FieldError as exc:
                errors.setdefault(field.name, []).append(_safe_message(field, raw, exc.message))

        try:
            self.clean_extra(auth_method, cleaned_config, cleaned_secrets, partial=partial)
        except ProviderValidationError as exc:
            field_errors = set(errors)
            for key, messages in exc.errors.items():
                if key not in field_errors:  # a field already in error needs no derived complaint too
                    errors.setdefault(key, []).extend(messages)
        except FieldError as exc:
            errors.setdefault(NON_FIELD_ERRORS, []).append(exc.message)
        if errors:
            raise ProviderValidationError(errors)
        return cleaned_config, cleaned_secrets

    def _check_keys(
        self,
        auth_method: str,
        fields: Mapping[str, Field],
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        errors: dict[str, list[str]],
    ) -> set[str]:
        """Report unknown and misplaced keys; return the names of fields sent on the wrong side."""
        all_names = {field.name for field in self.fields}
        misplaced: set[str] = set()
        for data, expect_secret in ((config, False), (secrets, True)):
            for key in data:
                name = str(key)[:100]
                field = fields.get(key)
                if field is None:
                    message = (
                        f"This field does not apply to the {auth_method!r} auth method."
                        if key in all_names
                        else MSG_UNKNOWN
                    )
                    errors.setdefault(name, []).append(message)
                elif field.secret != expect_secret:
                    misplaced.add(field.name)
                    errors.setdefault(name, []).append(MSG_SECRET_IN_CONFIG if field.secret else MSG_PUBLIC_IN_SECRETS)
        return misplaced

    @staticmethod
    def _handle_missing(
        field: Field, sent_blank: bool, partial: bool, target: dict[str, Any], errors: dict[str, list[str]]
    ) -> None:
        if partial:
            if sent_blank and field.required:
                errors.setdefault(field.name, []).append(MSG_REQUIRED)
            elif sent_blank:
                target[field.name] = None
            return
        if field.default is not None:
            target[field.name] = copy.deepcopy(field.default)
        elif field.required:
            errors.setdefault(field.name, []).append(MSG_REQUIRED)

    def clean_extra(
        self, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], *, partial: bool = False
    ) -> None:
        """Cross-field checks; may fill derived public values into `config`.

        Receives only the values that cleaned successfully, so a hook must check that the keys it
        needs are present. Raise ProviderValidationError (keyed by field) or FieldError (reported
        as a non-field error).
        """

    # -- materialization ---------------------------------------------------------------------------

    def materialize(
        self,
        auth_method: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        *,
        ref: Materialized | None = None,
        ref_config: Mapping[str, Any] | None = None,
    ) -> Materialized:
        """Turn stored (already cleaned) config and decrypted secrets into env vars and files for a run.

        For a method with a connection_ref field the runtime must first materialize the referenced
        connection and pass it as `ref` (and its public config as `ref_config`).
        """
        try:
            self.get_auth_method(auth_method)
        except ProviderValidationError as exc:
            raise MaterializeError(str(exc)) from None
        if self.ref_field(auth_method) is not None and ref is None:
            raise MaterializeError(f"{self.label}: materialize the referenced connection first and pass it as ref.")
        config = self._with_defaults(auth_method, config)
        return self._materialize(auth_method, config, dict(secrets), ref=ref, ref_config=dict(ref_config or {}))

    def _with_defaults(self, auth_method: str, config: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(config)
        for field in self.public_fields(auth_method):
            if _is_blank(merged.get(field.name)) and field.default is not None:
                merged[field.name] = field.default
        return merged

    def _materialize(
        self,
        auth_method: str,
        config: dict[str, Any],
        secrets: dict[str, Any],
        *,
        ref: Materialized | None,
        ref_config: dict[str, Any],
    ) -> Materialized:
        raise NotImplementedError(f"{type(self).__name__} does not implement _materialize().")

    def run_setup(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any, *, ref: Any = None
    ) -> Any:
        """Credentials obtained at run time (`run.RunSetup`), or None when `materialize` says it all.

        Override for auth methods that store nothing usable (assume role, OIDC federation, registries
        whose password is minted per login). `ctx` is a `run.RunContext`; `ref` the borrowed
        connection's `run.RunRef`. Raise `MaterializeError` (or the SDK's error) when the cloud refuses.
        """
        return None

    # -- connection test ---------------------------------------------------------------------------

    def check(self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any) -> Any:
        """Prove the credentials work against the provider's API (DESIGN.md "test" column).

        `ctx` is a `contract.CheckContext`; return a `CheckResult`, raise `CheckFailed` with
        the provider's reason. Endpoints come only from `ctx` so tests can point them at loopback.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement check().")

    # -- description -------------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able description of this provider for ``GET /api/v1/providers/`` and dynamic forms."""
        return {
            "code": self.code,
            "label": self.label,
            "category": self.category,
            "category_label": CATEGORY_LABELS[self.category],
            "description": self.description,
            "icon": self.icon,
            "color": self.color,
            "requires_plan": self.requires_plan,
            "summary_fields": list(self.summary_fields),
            "test_description": self.test_description,
            "auth_methods": [
                {
                    "code": method.code,
                    "label": method.label,
                    "help_text": method.help_text,
                    "stores_secret": method.stores_secret,
                    "external_id_required": self.external_id_required(method.code),
                    "fields": [field.name for field in self.fields_for(method.code)],
                }
                for method in self.auth_methods
            ],
            "fields": [field.as_dict() for field in self.fields],
        }

    def __repr__(self) -> str:
        return f"<Provider {self.code}>"


def _safe_message(field: Field, raw: Any, message: str) -> str:
    """Last line of defence: a secret field's error never quotes the submitted value."""
    if field.secret:
        text = raw.strip() if isinstance(raw, str) else ""
        if len(text) >= 8 and text in message:
            return "Invalid value."
    return message


def federation_panel(
    title: str,
    *,
    values: Sequence[tuple[str, str, str]],
    commands: Sequence[tuple[str, str]] = (),
    documents: Sequence[tuple[str, str, Any]] = (),
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """The shape `Provider.federation_setup` returns: ``values`` are (name, label, value) to enter,
    ``commands`` (label, shell command), ``documents`` (name, label, JSON-able content), ``notes`` text."""
    return {
        "title": title,
        "values": [{"name": name, "label": label, "value": value} for name, label, value in values],
        "commands": [{"label": label, "command": command} for label, command in commands],
        "documents": [{"name": name, "label": label, "content": content} for name, label, content in documents],
        "notes": list(notes),
    }


def b64(data: bytes | str) -> str:
    """Standard base64 text of `data` (kubeconfig *-data fields, Docker auth strings)."""
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


# --------------------------------------------------------------------------------------------------
# Shared provider families
# --------------------------------------------------------------------------------------------------


class CloudConnectionProvider(Provider):
    """A provider that borrows the credentials of another (cloud) connection, e.g. ECR or an S3 backend.

    Its only auth method is ``cloud_connection``: nothing secret is stored. The runtime resolves the
    ``cloud_connection`` reference (a connection name in the same organization, whose provider must
    be one of the field's ``ref_providers``), materializes it, and passes it as ``ref``; this
    provider's own variables are layered on top.
    """

    def _materialize(
        self,
        auth_method: str,
        config: dict[str, Any],
        secrets: dict[str, Any],
        *,
        ref: Materialized | None,
        ref_config: dict[str, Any],
    ) -> Materialized:
        assert ref is not None  # guaranteed by materialize()
        return ref.merged(self._own_materialized(config, ref=ref, ref_config=ref_config))

    def _own_materialized(
        self, config: dict[str, Any], *, ref: Materialized, ref_config: dict[str, Any]
    ) -> Materialized:
        raise NotImplementedError

    def backend_config(self, config: Mapping[str, Any], *, state_name: str = "") -> dict[str, str]:
        """Terraform ``-backend-config`` key/values for a state backend (only state backends implement it)."""
        raise NotImplementedError(f"{self.label} is not a Terraform state backend.")


ROUTER_VENDOR_CHOICES: tuple[tuple[str, str], ...] = (
    ("pfsense", "pfSense"),
    ("opnsense", "OPNsense"),
    ("openwrt", "OpenWrt"),
    ("mikrotik", "MikroTik"),
    ("ubiquiti", "Ubiquiti"),
    ("strongswan", "Linux strongSwan"),
    ("other", "Other"),
)


def onprem_network_fields() -> tuple[Field, ...]:
    """The VPN-facing fields every on-prem provider shares: subnet, router WAN IP and router vendor."""
    return (
        Field("subnet", "On-prem subnet", "cidr", validators=(v.cidr,), placeholder="192.168.50.0/24",
              help_text="Your internal network (RFC 1918) that the VPN routes to."),
        Field("public_ip", "Public IP", "ip", validators=(v.public_ipv4,), placeholder="81.2.69.160",
              help_text="Your router's WAN address; must be publicly routable, not RFC 1918."),
        Field("router_vendor", "Router vendor", "choice", choices=ROUTER_VENDOR_CHOICES,
              help_text="Selects the router configuration you can download once the VPN is up."),
    )  # fmt: skip


class OnPremProvider(Provider):
    """A hypervisor reached over the site-to-site VPN (Enterprise plan).

    The VPN app uses ``subnet``/``public_ip``/``router_vendor`` to provision (or reuse) the tunnel,
    so the management host must sit inside the advertised subnet or it would be unreachable.
    Subclasses declare `onprem_network_fields()` among their fields and name their host field.
    """

    requires_plan = "enterprise"
    #: public field holding the management host (a URL or a bare host), checked against the subnet
    host_field: ClassVar[str] = ""
    host_label: ClassVar[str] = "host"

    @staticmethod
    def host_of(value: str) -> str:
        """The host part of a URL, or the value itself when it is a bare host."""
        if "://" in value:
            return urlsplit(value).hostname or ""
        return value

    def network_errors(self, config: Mapping[str, Any]) -> dict[str, list[str]]:
        """An IP management host must be inside the on-prem subnet; a host name cannot be checked offline."""
        host_value, subnet = config.get(self.host_field), config.get("subnet")
        if not host_value or not subnet:
            return {}
        try:
            address = ip_address(self.host_of(host_value))
        except ValueError:
            return {}
        if address in ip_network(subnet):
            return {}
        return {self.host_field: [f"The {self.host_label} must be inside the on-prem subnet {subnet}."]}

    def clean_extra(
        self, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], *, partial: bool = False
    ) -> None:
        """Run the network checks; subclasses adding checks should merge `network_errors` into theirs."""
        errors = self.network_errors(config)
        if errors:
            raise ProviderValidationError(errors)
