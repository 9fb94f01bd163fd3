from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def create_cache_table(using: str = "default", **kwargs) -> None:
    # The "shared" cache lives in the database (settings.CACHES); `migrate` alone sets it up.
    call_command("createcachetable", database=using, verbosity=0)


class TranscriptsConfig(AppConfig):
    name = "transcripts"
    verbose_name = "Calls and transcripts"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from .recordings import clean_worker_temp_dirs

        # A worker that starts removes the downloads a dead worker left behind.
        post_spawn.connect(
            lambda **kwargs: clean_worker_temp_dirs(), weak=False, dispatch_uid="clean_temp"
        )

        post_migrate.connect(create_cache_table, sender=self)

        # Registers the check that e-mail addresses are unique (logins use them).
        from . import auth  # noqa: F401
