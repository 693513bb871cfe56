from django.apps import AppConfig


class FinopsConfig(AppConfig):
    """FinOps: cost records and sync jobs per connection, budgets, anomalies, dashboard and exports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "finops"
    demo_seeders = ["finops.demo.seed_demo"]
    org_nav_items = [{"label": "Costs", "url_name": "finops_dashboard", "action": "view_costs", "section": "finops"}]

    def ready(self) -> None:
        # late import: registering the deletion-preview counts needs the models loaded (Django's ready())
        # Services send `finops.tasks.sync_costs_task` by name, so the task module (which runs the services)
        # is not imported back by them; it is registered here, as Celery's Django autodiscovery would.
        # late import: Celery task registration in AppConfig.ready
        from . import (
            dependents,  # noqa: F401
            tasks,  # noqa: F401
        )
