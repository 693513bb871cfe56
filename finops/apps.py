from django.apps import AppConfig


class FinopsConfig(AppConfig):
    """FinOps: cost records and sync jobs per connection, budgets, anomalies, dashboard and exports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "finops"
    org_nav_items = [{"label": "Costs", "url_name": "finops_dashboard", "action": "view_costs", "section": "finops"}]

    def seed_demo(self, org, admin, stdout) -> None:
        """`manage.py seed_demo`'s hook: a demo connection and a few months of costs for the dashboard."""
        # late import: demo data needs the models and services, loaded only when the seed runs
        from .demo import seed

        seed(org, admin, stdout)

    def ready(self) -> None:
        # late import: registering the deletion-preview counts needs the models loaded (Django's ready())
        from . import dependents  # noqa: F401
