from django.apps import AppConfig


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
