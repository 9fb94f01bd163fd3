from django.apps import AppConfig


class TranscriptsConfig(AppConfig):
    name = "transcripts"
    verbose_name = "Calls and transcripts"

    def ready(self) -> None:
        # Registers the check that e-mail addresses are unique (logins use them).
        from . import auth  # noqa: F401
