"""FinOps page forms: field-level errors come from the services (the same rules as the API)."""

from __future__ import annotations

from django import forms

from .choices import BudgetScopeChoices


class BudgetForm(forms.Form):
    name = forms.CharField(max_length=100)
    scope = forms.ChoiceField(choices=BudgetScopeChoices.choices, initial=BudgetScopeChoices.ORGANIZATION)
    environment = forms.ChoiceField(required=False, help_text="For an environment budget.")
    connection = forms.ChoiceField(required=False, help_text="For a connection budget.")
    amount = forms.DecimalField(max_digits=20, decimal_places=2, min_value=0.01, help_text="Per calendar month.")
    currency = forms.CharField(max_length=3, initial="USD")
    thresholds = forms.CharField(initial="50, 80, 100", help_text="Alert at these percentages (actual and forecast).")

    def __init__(self, *args, environments=(), connections=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = [("", "—"), *[(e.slug, e.name) for e in environments]]
        self.fields["connection"].choices = [("", "—"), *[(c.name, c.name) for c in connections]]


class SyncForm(forms.Form):
    connection = forms.ChoiceField()
    start = forms.DateField(required=False, help_text="Backfill from this day (YYYY-MM-DD); empty: incremental.")
    end = forms.DateField(required=False, help_text="Backfill through this day; empty: today.")

    def __init__(self, *args, connections=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection"].choices = [(c.name, c.name) for c in connections]
