from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    """Terraform projects and runs. Hooks into connections (deletion preview, card counts, detected
    permissions) through the registries connections offers, so connections never imports projects."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "projects"
    org_nav_items = [
        {"label": "Projects", "url_name": "project_list", "action": "view", "section": "projects"},
        {"label": "Usage", "url_name": "usage_org", "action": "view", "section": "usage"},
    ]

    def ready(self) -> None:
        # late import: AppConfig.ready() is Django's documented place for work that needs the models loaded
        from . import hooks

        hooks.install()
