"""API serializers: shape and types only. The rules live in services and the policy module."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.choices import PlanChoices, RoleChoices
from accounts.models import (
    APIToken,
    AuditEvent,
    Environment,
    Invitation,
    Membership,
    Notification,
    Organization,
    slug_validator,
)
from accounts.policy import role_in
from core.api.rendering import PageListSerializer, current_timezone, iso_datetime, text


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this organization.")

    class Meta:
        model = Organization
        fields = ["slug", "name", "plan", "role", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"slug": {"validators": [slug_validator]}}

    def get_role(self, org: Organization) -> str | None:
        request = self.context.get("request")
        return role_in(request.auth or request.user, org) if request else None


class OrganizationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    plan = serializers.ChoiceField(choices=PlanChoices.choices, required=False)


class EnvironmentSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(max_length=63, validators=[slug_validator])
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)

    class Meta:
        model = Environment
        fields = ["slug", "name", "description", "created_at"]
        read_only_fields = ["created_at"]


class EnvironmentUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["email", "full_name", "role", "created_at"]
        read_only_fields = fields


class InvitationSerializer(serializers.ModelSerializer):
    """An invitation as its organization's admins see it (never the link's token)."""

    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, allow_null=True, default=None)
    status = serializers.ChoiceField(
        choices=["pending", "expired", "accepted", "revoked"], read_only=True, help_text="pending, expired, ..."
    )

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "sent_at", "expires_at", "accepted_at", "revoked_at"]
        read_only_fields = fields


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=RoleChoices.choices)


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=RoleChoices.choices)


class APITokenSerializer(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email", read_only=True)
    # Declared (not derived from the model) so the schema allows "" (no cap): read-only model fields lose allow_blank.
    role_cap = serializers.ChoiceField(
        choices=RoleChoices.choices,
        allow_blank=True,
        read_only=True,
        help_text="When set, the token acts with at most this role; empty when it acts with the user's role.",
    )
    is_expired = serializers.BooleanField(read_only=True)

    class Meta:
        model = APIToken
        fields = [
            "id",
            "name",
            "prefix",
            "user",
            "role_cap",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "is_expired",
            "parent",
            "created_at",
        ]
        read_only_fields = fields


class APITokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role_cap = serializers.ChoiceField(choices=RoleChoices.choices, required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class APITokenCreatedSerializer(APITokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The token value. It is shown only once.")

    class Meta(APITokenSerializer.Meta):
        fields = ["token", *APITokenSerializer.Meta.fields]
        read_only_fields = fields


class LoginTokenSerializer(APITokenCreateSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, write_only=True)
    org = serializers.SlugField(max_length=63)
    name = serializers.CharField(max_length=100, required=False, default="API token")
    otp = serializers.CharField(  # login hardening: the second factor, for accounts that have turned it on
        max_length=32, required=False, allow_blank=True, write_only=True,
        help_text="For accounts with two-factor authentication: the current code from the app, or a recovery code.",
    )


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label", read_only=True)
    target = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "seq",
            "created_at",
            "actor_type",
            "actor",
            "action",
            "target",
            "environment",
            "request_id",
            "client_ip",
            "details",
            "hash",
            "prev_hash",
        ]
        read_only_fields = fields
        list_serializer_class = PageListSerializer

    _tz: Any = None

    def prepare_page(self, rows: list[AuditEvent]) -> None:
        self._tz = current_timezone()

    def to_representation(self, event: AuditEvent) -> dict[str, Any]:
        """Built directly: the same as DRF's walk over the fields above (tests/connections/test_api_rendering.py
        compares them), at a fraction of the cost for a page of events."""
        return {
            "id": event.id,
            "seq": event.seq,
            "created_at": iso_datetime(event.created_at, self._tz or current_timezone()),
            "actor_type": event.actor_type,
            "actor": event.actor_label,
            "action": event.action,
            "target": self.get_target(event),
            "environment": event.environment,
            "request_id": event.request_id,
            "client_ip": text(event.client_ip),
            "details": event.details,
            "hash": event.hash,
            "prev_hash": event.prev_hash,
        }

    def get_target(self, event: AuditEvent) -> dict[str, Any]:
        return {"type": event.target_type, "id": event.target_id, "repr": event.target_repr}


class MembershipBriefSerializer(serializers.ModelSerializer):
    org = serializers.CharField(source="org.slug")
    org_name = serializers.CharField(source="org.name")
    plan = serializers.CharField(source="org.plan")

    class Meta:
        model = Membership
        fields = ["org", "org_name", "plan", "role"]


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    full_name = serializers.CharField()
    memberships = MembershipBriefSerializer(many=True)
    token = APITokenSerializer(allow_null=True)


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "level", "title", "message", "url", "target_type", "target_id", "created_at", "dismissed_at"]
        read_only_fields = fields
