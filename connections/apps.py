from functools import partial

from django.apps import AppConfig
from django.conf import settings

from .providers import config as provider_config


class ConnectionsConfig(AppConfig):
    """Connections: provider registry, encrypted credentials, environment authorization, selection, use."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "connections"
    # The organization navigation's item (see accounts.context_processors); hidden until the routes are mounted.
    org_nav_items = [
        {"label": "Connections", "url_name": "connection_list", "action": "view", "section": "connections"}
    ]

    def ready(self) -> None:
        # Providers read their settings through this getter (they import nothing from Django).
        provider_config.configure(partial(getattr, settings))
        # late import: AppConfig.ready() is Django's documented place for work that needs the models loaded
        from accounts.plans import register_plan_check  # late import: AppConfig.ready()
        from accounts.policy import Action, register_object_permission  # late import: AppConfig.ready()

        from .services import plan_limit_violations  # late import: AppConfig.ready()

        register_plan_check(plan_limit_violations)  # a plan downgrade is refused while connections exceed it

        # Per-object grants (django-guardian) that can give a user more on one connection.
        for action, codename in (
            (Action.VIEW, "view_connection"),
            (Action.TEST_CONNECTION, "test_connection"),
            (Action.USE_CONNECTION, "use_connection"),
            (Action.MANAGE_ROLES, "manage_roles_connection"),
            (Action.MANAGE_CONNECTIONS, "change_connection"),
        ):
            register_object_permission("connections.connection", action, f"connections.{codename}")
