from django.apps import AppConfig


class VpnConfig(AppConfig):
    """Site-to-site VPN for on-prem connections: provisioning in the platform's cloud account, status,
    health and router configurations. It sits above `connections` and plugs into it through registries
    (private networks, connection-page extras, connection-test notes); connections never import it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "vpn"
    verbose_name = "VPN"
    org_nav_items = [{"label": "VPN", "url_name": "vpn_list", "action": "view", "section": "vpn"}]
    demo_seeders = ["vpn.demo.seed_demo"]

    def ready(self) -> None:
        # late import: AppConfig.ready() is Django's documented place for work that needs the models loaded
        from . import hooks  # noqa: F401 - registers the VPN's hooks into the connections app
