"""Connections API serializers: shape and types only. The rules live in services and the provider modules.

Secrets are write-only: `ConnectionSerializer.secrets` and `RotateSerializer.secrets` accept them, and
no serializer here has a field that reads the encrypted envelope or a decrypted value. Responses say
which secrets are set (`secret_fields`, `secret_fingerprints`), never what they are.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.reverse import reverse

from core.api.rendering import PageListSerializer, current_timezone, iso_datetime, text
from core.api.schema import ApiErrorDetailSerializer, ApiErrorSerializer  # noqa: F401 - the error shape, documented in core

from ..advice import separation_warning
from ..models import Connection, ConnectionAuthorization, ConnectionUsage
from ..providers import UnknownProvider, UnknownResourceType, get_provider, provider_for_resource
from ..queries import GRANTED_COLUMN, EnvironmentRef, granted_column
from ..queries import granted as granted_environments

# --- Providers (documentation of Provider.as_dict(); the view returns as_dict() itself) -----------


class ProviderChoiceSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class ProviderFieldSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Key in `config` (public) or `secrets` (secret) of a connection body.")
    label = serializers.CharField()
    kind = serializers.CharField(
        help_text="string, text, integer, choice, url, json, pem, yaml, cidr, ip, connection_ref"
    )
    secret = serializers.BooleanField(help_text="Secret fields go in `secrets` and are never returned.")
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True)
    help_text = serializers.CharField(allow_blank=True)
    placeholder = serializers.CharField(allow_blank=True)
    choices = ProviderChoiceSerializer(many=True)
    auth_methods = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="Auth methods this field belongs to; null = all."
    )
    ref_providers = serializers.ListField(
        child=serializers.CharField(),
        help_text="For connection_ref fields: providers the referenced connection may have.",
    )
    min_value = serializers.IntegerField(allow_null=True)
    max_value = serializers.IntegerField(allow_null=True)


class ProviderAuthMethodSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    help_text = serializers.CharField(allow_blank=True)
    stores_secret = serializers.BooleanField()
    external_id_required = serializers.BooleanField(
        help_text="The platform generates an ExternalId, shown on the connection after creation."
    )
    fields = serializers.ListField(
        child=serializers.CharField(), help_text="Names of the fields of this method's form."
    )


class ProviderSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The `provider` value of a connection.")
    label = serializers.CharField()
    category = serializers.CharField()
    category_label = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    icon = serializers.CharField(allow_blank=True)
    color = serializers.CharField()
    requires_plan = serializers.CharField(help_text="Lowest plan that may create this provider's connections.")
    summary_fields = serializers.ListField(child=serializers.CharField())
    test_description = serializers.CharField(allow_blank=True)
    auth_methods = ProviderAuthMethodSerializer(many=True)
    fields = ProviderFieldSerializer(many=True)


# --- Connections ----------------------------------------------------------------------------------


def connection_url(request: Request | None, org_slug: str, name: str) -> str:
    return reverse("connection-detail", kwargs={"org_slug": org_slug, "name": name}, request=request)


def public_config(connection: Connection) -> dict[str, Any]:
    """The config as shown: never a secret-field key (defence in depth), and the reference shown by the
    referenced row's current name, which stays right when that connection is renamed."""
    spec = connection.provider_spec
    secret_names = {f.name for f in spec.fields if f.secret}
    config = {key: value for key, value in connection.config.items() if key not in secret_names}
    ref = spec.ref_field(connection.auth_method)
    if ref is not None and connection.cloud_connection_id is not None:
        config[ref.name] = connection.cloud_connection.name
    return config


class PublicConfigField(serializers.DictField):
    """Writes a plain object (validated by the provider module in services); reads `public_config`."""

    def get_attribute(self, instance: Connection) -> dict[str, Any]:
        return public_config(instance)


class EnvironmentSlugsField(serializers.ListField):
    """Writes a list of slugs; reads the authorized slugs from the prefetched authorizations (no query per row)."""

    child = serializers.CharField(max_length=63)

    def get_attribute(self, instance: Connection) -> list[str]:
        return sorted(auth.environment.slug for auth in instance.authorizations.all())


class ConnectionHealthSerializer(serializers.Serializer):
    status = serializers.CharField(source="health_status", help_text="unknown, healthy or unhealthy.")
    last_checked_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(source="last_check_error", allow_blank=True)
    message = serializers.CharField(
        source="last_check_message", allow_blank=True,
        help_text="What the provider said on the last check, passed or failed (e.g. 'Authenticated as ...').",
    )
    duration_ms = serializers.IntegerField(source="last_check_duration_ms", allow_null=True)


class SummaryItemSerializer(serializers.Serializer):
    label = serializers.CharField()
    value = serializers.JSONField()


# What `reverse()` leaves unquoted in a path (django.urls.resolvers): a name is quoted the same way here.
_PATH_SAFE = "!$&'()*+,;=/~:@"


@dataclass(frozen=True)
class _ProviderFacts:
    """What a connection's response needs from its provider module, looked up once per provider and page."""

    label: str
    secret_names: frozenset[str]
    summary: tuple[tuple[str, str], ...]  # (field name, label) of the summary fields
    ref_names: dict[str, str | None]  # auth method -> its connection_ref field's name (filled as met)

    @classmethod
    def of(cls, code: str) -> _ProviderFacts:
        spec = get_provider(code)
        labels = {f.name: f.label for f in spec.fields}
        return cls(
            label=spec.label,
            secret_names=frozenset(f.name for f in spec.fields if f.secret),
            summary=tuple((name, labels.get(name, name)) for name in spec.summary_fields),
            ref_names={},
        )

    def ref_name(self, code: str, auth_method: str) -> str | None:
        if auth_method not in self.ref_names:
            ref = get_provider(code).ref_field(auth_method)
            self.ref_names[auth_method] = ref.name if ref is not None else None
        return self.ref_names[auth_method]


@dataclass
class _Page:
    """Per-page work of `ConnectionSerializer`, done once: the time zone, the time, the rotation period, the
    URL prefix per organization, the providers' facts, and every row's environments (one query)."""

    tz: dt.tzinfo
    now: dt.datetime
    rotation: dt.timedelta
    environments: dict[Any, list[tuple[str, str]]]
    prefixes: dict[str, str] = field(default_factory=dict)
    providers: dict[str, _ProviderFacts] = field(default_factory=dict)

    def provider(self, code: str) -> _ProviderFacts:
        if code not in self.providers:
            self.providers[code] = _ProviderFacts.of(code)
        return self.providers[code]


# What a response shows of the related rows, read as columns of the connection's own query (no model
# instance per related row): `with_response_columns()` adds them, `ConnectionSerializer` reads them when present.
RESPONSE_COLUMNS = {
    "response_org_slug": "org__slug",
    "response_created_by": "created_by__email",
    "response_updated_by": "updated_by__email",
    "response_cloud_connection": "cloud_connection__name",
}


def with_response_columns(queryset: QuerySet) -> QuerySet:
    """Connections as the list and detail responses read them: the related values as annotations, and the
    authorized environments as one JSON column (`queries.granted_column`)."""
    return queryset.annotate(
        **{name: F(path) for name, path in RESPONSE_COLUMNS.items()}, **{GRANTED_COLUMN: granted_column()}
    )


def _related(instance: Connection, column: str, relation: str, attribute: str) -> Any:
    """A related value from its annotation when the query has it, else through the relation."""
    if column in instance.__dict__:
        return instance.__dict__[column]
    related = getattr(instance, relation)
    return getattr(related, attribute) if related is not None else None


class ConnectionSerializer(serializers.ModelSerializer):
    """Create body, PATCH body and the response, in one place.

    Create takes name, provider, auth_method, description, config, secrets and environments. PATCH
    takes name, description and config (partial); a PATCH that changes where the secret is sent (a URL,
    host, port or CA) must carry the secret again in `secrets`, and only then may it carry secrets (other
    secret changes belong to rotate). Provider, auth_method and environments may only be sent back
    unchanged (a client that PATCHes the body it fetched keeps working). Names, field values, plan limits
    and uniqueness are checked by `connections.services`, whose errors come back keyed like this body (`config.region`).
    """

    # Writable. No validators on `name`: the service checks slug rules and uniqueness in one place.
    name = serializers.CharField(max_length=63, help_text="Lowercase letters, digits and dashes; unique per org.")
    provider = serializers.CharField(max_length=32, help_text="A provider code from /api/v1/providers/.")
    auth_method = serializers.CharField(max_length=32, help_text="One of the provider's auth method codes.")
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    config = PublicConfigField(
        required=False,
        default=dict,
        help_text="Public (non-secret) fields. A connection_ref field holds the referenced connection's name.",
    )
    secrets = serializers.DictField(
        write_only=True,
        required=False,
        default=dict,
        help_text="Secret fields, never returned. On PATCH: required again when the endpoint, host, port or CA "
        "changes; otherwise change them with POST .../rotate/.",
    )
    environments = EnvironmentSlugsField(
        required=False,
        default=list,
        help_text="Slugs of the environments the connection is authorized for. Change them with .../authorizations/.",
    )

    # Read-only.
    provider_label = serializers.CharField(source="provider_spec.label", read_only=True)
    secret_fields = serializers.ListField(
        source="secret_fields_set",
        child=serializers.CharField(),
        read_only=True,
        help_text="Secret fields that are set.",
    )
    secret_fingerprints = serializers.DictField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Keyed, non-reversible tag per secret field: it changes when the secret changes.",
    )
    health = ConnectionHealthSerializer(source="*", read_only=True)
    rotation_due_at = serializers.DateTimeField(read_only=True)
    rotation_overdue = serializers.BooleanField(
        read_only=True, help_text="Stored credentials older than ROTATION_REMINDER_DAYS (filter: ?rotation_overdue=)."
    )
    separation_warning = serializers.CharField(
        read_only=True,
        help_text="Non-empty when the connection is authorized for development-like and production-like "
        "environments at once (classified by their slugs and names).",
    )
    oauth_scopes = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        allow_null=True,
        help_text="OAuth connections: the scopes the user granted (null: not reported or not OAuth).",
    )
    oauth_expires_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="OAuth connections: when the access token expires (null: never)."
    )
    created_by = serializers.EmailField(source="created_by.email", read_only=True, allow_null=True)
    updated_by = serializers.EmailField(source="updated_by.email", read_only=True, allow_null=True)
    summary = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "name",
            "id",
            "provider",
            "provider_label",
            "category",
            "auth_method",
            "description",
            "config",
            "secrets",
            "secret_fields",
            "secret_fingerprints",
            "external_id",
            "status",
            "health",
            "environments",
            "last_used_at",
            "credentials_rotated_at",
            "rotation_due_at",
            "rotation_overdue",
            "separation_warning",
            "oauth_scopes",
            "oauth_expires_at",
            "created_by",
            "updated_by",
            "created_at",
            "updated_at",
            "summary",
            "url",
        ]
        read_only_fields = [
            "id",
            "category",
            "external_id",
            "status",
            "last_used_at",
            "credentials_rotated_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"external_id": {"help_text": "AWS assume_role only: put it in the role's trust policy."}}
        list_serializer_class = PageListSerializer

    _page: _Page | None = None

    def prepare_page(self, rows: list[Connection]) -> None:
        environments: dict[Any, list[tuple[str, str]]] = {row.pk: [] for row in rows}
        read = [granted_environments(row) for row in rows]
        if rows and all(found is not None for found in read):  # with_response_columns()
            environments = {row.pk: found for row, found in zip(rows, read, strict=True)}
        elif rows:
            granted = ConnectionAuthorization.objects.filter(connection_id__in=list(environments)).values_list(
                "connection_id", "environment__slug", "environment__name"
            )
            for connection_id, slug, name in granted:
                environments[connection_id].append((slug, name))
        self._page = _Page(
            tz=current_timezone(),
            now=timezone.now(),
            rotation=dt.timedelta(days=settings.ROTATION_REMINDER_DAYS),
            environments=environments,
        )

    def _url_prefix(self, page: _Page, org_slug: str) -> str:
        if org_slug not in page.prefixes:
            request = self.context.get("request")
            page.prefixes[org_slug] = reverse("connection-list", kwargs={"org_slug": org_slug}, request=request)
        return page.prefixes[org_slug]

    def to_representation(self, instance: Connection) -> dict[str, Any]:
        """The response, built directly (per-page work in `prepare_page`); the same as DRF's walk over the
        declared fields (tests/connections/test_api_rendering.py compares them for every provider)."""
        page = self._page
        if page is None or instance.pk not in page.environments:
            self.prepare_page([instance])
            page = self._page
        tz = page.tz
        facts = page.provider(instance.provider)
        config = {str(k): v for k, v in instance.config.items() if k not in facts.secret_names}
        ref = facts.ref_name(instance.provider, instance.auth_method)
        if ref is not None and instance.cloud_connection_id is not None:
            config[ref] = _related(instance, "response_cloud_connection", "cloud_connection", "name")
        granted = page.environments[instance.pk]
        fingerprints = instance.secret_fingerprints or {}
        rotation_due_at = instance.credentials_rotated_at + page.rotation
        scopes = instance.oauth_scopes
        org_slug = _related(instance, "response_org_slug", "org", "slug")
        return {
            "name": instance.name,
            "id": str(instance.id),
            "provider": instance.provider,
            "provider_label": facts.label,
            "category": instance.category,
            "auth_method": instance.auth_method,
            "description": instance.description,
            "config": config,
            "secret_fields": sorted(str(k) for k in fingerprints),
            "secret_fingerprints": {str(k): text(v) for k, v in fingerprints.items()},
            "external_id": instance.external_id,
            "status": instance.status,
            "health": {
                "status": instance.health_status,
                "last_checked_at": iso_datetime(instance.last_checked_at, tz),
                "error": instance.last_check_error,
                "message": instance.last_check_message,
                "duration_ms": instance.last_check_duration_ms,
            },
            "environments": sorted(slug for slug, _ in granted),
            "last_used_at": iso_datetime(instance.last_used_at, tz),
            "credentials_rotated_at": iso_datetime(instance.credentials_rotated_at, tz),
            "rotation_due_at": iso_datetime(rotation_due_at, tz),
            "rotation_overdue": bool(fingerprints) and page.now >= rotation_due_at,
            "separation_warning": separation_warning(EnvironmentRef(slug, name) for slug, name in granted),
            "oauth_scopes": None if scopes is None else [text(scope) for scope in scopes],
            "oauth_expires_at": iso_datetime(instance.oauth_expires_at, tz),
            "created_by": _related(instance, "response_created_by", "created_by", "email"),
            "updated_by": _related(instance, "response_updated_by", "updated_by", "email"),
            "created_at": iso_datetime(instance.created_at, tz),
            "updated_at": iso_datetime(instance.updated_at, tz),
            "summary": [{"label": label, "value": config[name]} for name, label in facts.summary if config.get(name)],
            "url": self._url_prefix(page, org_slug) + quote(instance.name, safe=_PATH_SAFE) + "/",
        }

    @extend_schema_field(SummaryItemSerializer(many=True))
    def get_summary(self, obj: Connection) -> list[dict[str, Any]]:
        shown = copy.copy(obj)  # summary() reads config: show the reference by its current name there too
        shown.config = public_config(obj)
        return [{"label": label, "value": value} for label, value in shown.summary()]

    def get_url(self, obj: Connection) -> str:
        return connection_url(self.context.get("request"), obj.org.slug, obj.name)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None:
            self._check_update(self.instance, attrs)
        return attrs

    @staticmethod
    def _check_update(connection: Connection, attrs: dict[str, Any]) -> None:
        """Refuse what an update cannot change, naming the endpoint that can."""
        errors: dict[str, str] = {}
        if "secrets" in attrs and not connection.provider_spec.destination_moves(
            connection.auth_method, connection.config, attrs.get("config") or {}
        ):
            errors["secrets"] = (
                "Secrets cannot be changed by an update: send them to POST .../rotate/ "
                "(an update takes them only together with a new endpoint, host, port or CA)."
            )
        for key in ("provider", "auth_method"):
            if key in attrs and attrs[key] != getattr(connection, key):
                errors[key] = "Cannot be changed: create a new connection instead."
        if "environments" in attrs:
            current = set(connection.authorizations.values_list("environment__slug", flat=True))
            if set(attrs["environments"]) != current:
                errors["environments"] = "Change environments through PUT .../authorizations/."
        if errors:
            raise serializers.ValidationError(errors)


class RotateSerializer(serializers.Serializer):
    secrets = serializers.DictField(
        help_text="New values of some or all secret fields. Placeholders such as *** mean 'keep the stored value'."
    )


# --- Authorizations -------------------------------------------------------------------------------


class EnvironmentAuthorizationSerializer(serializers.Serializer):
    environment = serializers.CharField(help_text="Environment slug.")
    name = serializers.CharField(help_text="Environment name.")
    authorized = serializers.BooleanField()
    authorized_at = serializers.DateTimeField(allow_null=True)
    authorized_by = serializers.EmailField(allow_null=True)
    is_default = serializers.BooleanField(
        help_text="This connection is the environment's default for its provider (picked when a run names none)."
    )
    default_connection = serializers.CharField(
        allow_null=True, help_text="The environment's default connection of this provider (null: none)."
    )


class AuthorizationSetSerializer(serializers.Serializer):
    environments = serializers.ListField(
        child=serializers.CharField(max_length=63),
        allow_empty=True,
        help_text="The complete set of environment slugs to authorize; others are revoked.",
    )


class AuthorizationAddSerializer(serializers.Serializer):
    environment = serializers.CharField(max_length=63, help_text="Slug of the environment to authorize.")


# --- Deletion preview -----------------------------------------------------------------------------


class DependentGroupSerializer(serializers.Serializer):
    label = serializers.CharField()
    count = serializers.IntegerField()
    items = serializers.ListField(child=serializers.CharField())


class DeletionPreviewSerializer(serializers.Serializer):
    connection = serializers.CharField()
    can_delete = serializers.BooleanField()
    blocking = serializers.DictField(
        child=DependentGroupSerializer(), help_text="What must go first; any non-zero count blocks the deletion."
    )
    will_delete = serializers.DictField(child=DependentGroupSerializer(), help_text="What is deleted with it.")


# --- Usage ----------------------------------------------------------------------------------------


class ConnectionUsageSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = ConnectionUsage
        fields = ["id", "created_at", "actor", "environment", "purpose", "resource", "outcome", "error"]
        read_only_fields = fields


# --- Selection ------------------------------------------------------------------------------------


class SelectionQuerySerializer(serializers.Serializer):
    provider = serializers.CharField(max_length=64, required=False, help_text="Provider code, e.g. aws.")
    resource_type = serializers.CharField(
        max_length=128, required=False,
        help_text="Instead of a provider: what is deployed, as a Terraform resource type (aws_db_instance) or a "
        "kind ('AWS RDS', 'GKE'). The answer says which provider it mapped to.",
    )
    connection = serializers.CharField(
        max_length=63, required=False, help_text="Check this connection instead of selecting automatically."
    )

    def validate_provider(self, value: str) -> str:
        try:
            return get_provider(value).code
        except UnknownProvider as exc:
            raise serializers.ValidationError(exc.message) from None

    def validate_resource_type(self, value: str) -> str:
        try:
            provider_for_resource(value)
        except UnknownResourceType as exc:
            raise serializers.ValidationError(exc.message) from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("provider" in attrs) == ("resource_type" in attrs):
            raise serializers.ValidationError(
                {"provider": "Give either provider or resource_type (exactly one of them)."}
            )
        if "resource_type" in attrs:
            attrs["provider"] = provider_for_resource(attrs["resource_type"]).code
        return attrs


class SelectedConnectionSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = ["name", "provider", "status", "url"]
        read_only_fields = fields

    def get_url(self, obj: Connection) -> str:
        return connection_url(self.context.get("request"), obj.org.slug, obj.name)


class SelectionSerializer(serializers.Serializer):
    environment = serializers.CharField(source="environment.slug")
    provider = serializers.CharField()
    resource_type = serializers.SerializerMethodField(
        help_text="The resource type asked about, when the provider was mapped from one (else null)."
    )
    connection = SelectedConnectionSerializer()
    role = serializers.SerializerMethodField(help_text="The connection role runs would use (none yet).")
    reason = serializers.CharField(help_text="Why this connection was chosen.")

    def get_role(self, obj: Any) -> dict[str, Any] | None:
        return None if obj.role is None else {"name": str(obj.role)}

    def get_resource_type(self, obj: Any) -> str | None:
        return self.context.get("resource_type")
