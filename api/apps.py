from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API and webhooks"

    def ready(self) -> None:
        # Webhooks and e-mail notices follow the calls' transitions.
        from . import events  # noqa: F401
