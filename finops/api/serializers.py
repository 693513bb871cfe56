"""FinOps API serializers. Amounts are decimal strings (never floats); nothing here reads a secret."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..choices import BudgetScopeChoices
from ..models import Budget, CostAnomaly, CostRecord, SyncJob
from ..reports import GROUP_BY

AMOUNT = {"max_digits": 24, "decimal_places": 10, "coerce_to_string": True}


class CostGroupSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The group's value (a service, an environment slug, a day...).")
    currency = serializers.CharField()
    billed_cost = serializers.DecimalField(**AMOUNT)
    effective_cost = serializers.DecimalField(**AMOUNT)


class CostQuerySerializer(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=sorted(GROUP_BY), default="service")
    start = serializers.DateField(required=False, help_text="First day (inclusive); default: the 1st of this month.")
    end = serializers.DateField(required=False, help_text="Last day (inclusive); default: today.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"start": "The range must start on or before its end."})
        return attrs


class CostRecordSerializer(serializers.ModelSerializer):
    connection = serializers.CharField(source="connection.name", read_only=True)
    environment = serializers.CharField(source="environment.slug", read_only=True, allow_null=True, default=None)
    billed_cost = serializers.DecimalField(**AMOUNT)
    effective_cost = serializers.DecimalField(**AMOUNT)
    list_cost = serializers.DecimalField(**AMOUNT, allow_null=True)

    class Meta:
        model = CostRecord
        fields = [
            "id", "connection", "environment", "provider", "provider_name", "charge_period_start",
            "charge_period_end", "billing_period_start", "billing_period_end", "billed_cost", "effective_cost",
            "list_cost", "billing_currency", "charge_category", "service_name", "service_category",
            "sub_account_id", "region_id", "resource_id", "environment_tag", "project_name", "tags",
        ]  # fmt: skip
        read_only_fields = fields


class SyncJobSerializer(serializers.ModelSerializer):
    connection = serializers.CharField(source="connection.name", read_only=True)

    class Meta:
        model = SyncJob
        fields = ["id", "connection", "kind", "status", "range_start", "range_end", "rows_written", "attempts",
                  "error", "created_at", "started_at", "finished_at"]  # fmt: skip
        read_only_fields = fields


class SyncRequestSerializer(serializers.Serializer):
    connection = serializers.CharField(help_text="The connection's name.")
    start = serializers.DateField(required=False, help_text="Backfill: first day (inclusive).")
    end = serializers.DateField(required=False, help_text="Backfill: last day (inclusive); default today.")


class CostAnomalySerializer(serializers.ModelSerializer):
    connection = serializers.CharField(source="connection.name", read_only=True)
    cost = serializers.DecimalField(**AMOUNT)
    baseline_mean = serializers.DecimalField(**AMOUNT)
    baseline_stdev = serializers.DecimalField(**AMOUNT)

    class Meta:
        model = CostAnomaly
        fields = ["id", "connection", "service_name", "day", "cost", "baseline_mean", "baseline_stdev", "currency",
                  "created_at"]  # fmt: skip
        read_only_fields = fields


class BudgetSerializer(serializers.ModelSerializer):
    """A budget and, read-only, this month's actual spend and month-end forecast."""

    scope = serializers.ChoiceField(choices=BudgetScopeChoices.choices, default=BudgetScopeChoices.ORGANIZATION)
    environment = serializers.CharField(required=False, allow_null=True, default=None,
                                        help_text="Environment slug (scope `environment`).")  # fmt: skip
    connection = serializers.CharField(required=False, allow_null=True, default=None,
                                       help_text="Connection name (scope `connection`).")  # fmt: skip
    amount = serializers.DecimalField(max_digits=20, decimal_places=2, coerce_to_string=True)
    thresholds = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=1000), required=False,
                                       max_length=10, help_text="Alert thresholds in percent.")  # fmt: skip
    actual = serializers.SerializerMethodField()
    forecast = serializers.SerializerMethodField()

    class Meta:
        model = Budget
        fields = ["id", "name", "scope", "environment", "connection", "amount", "currency", "thresholds",
                  "actual", "forecast", "created_at"]  # fmt: skip
        read_only_fields = ["id", "actual", "forecast", "created_at"]

    def to_representation(self, instance: Budget) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["environment"] = instance.environment.slug if instance.environment else None
        data["connection"] = instance.connection.name if instance.connection else None
        return data

    def _status(self, budget: Budget) -> Any:
        return self.context.get("statuses", {}).get(budget.pk)

    def get_actual(self, budget: Budget) -> str | None:
        status = self._status(budget)
        return f"{status.actual:.2f}" if status else None

    def get_forecast(self, budget: Budget) -> str | None:
        status = self._status(budget)
        return f"{status.forecast:.2f}" if status else None


class BudgetUpdateSerializer(BudgetSerializer):
    """PATCH: every field optional; the service re-validates the whole budget."""

    name = serializers.CharField(required=False, max_length=100)
    amount = serializers.DecimalField(max_digits=20, decimal_places=2, required=False, coerce_to_string=True)
    scope = serializers.ChoiceField(choices=BudgetScopeChoices.choices, required=False)
    environment = serializers.CharField(required=False, allow_null=True)
    connection = serializers.CharField(required=False, allow_null=True)
