from django.apps import AppConfig

from . import masking


class CoreConfig(AppConfig):
    """What every app uses and no app owns: envelope crypto, secret masking, the SSRF guard, the API's
    error shape and pagination, health probes, request context, and the UI template tags.

    `core` imports no other app of the project (an import-linter contract in CI holds it to that).
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"

    def ready(self) -> None:
        # Every log record is masked from the moment Django is set up, in every process (web, worker, command).
        masking.install()
