"""`manage.py benchmark`: bench.run with this install's data and model directories."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from bench import run


class Command(BaseCommand):
    help = (
        "Measure transcription speed, accuracy and memory of each engine configuration on "
        "synthetic sales calls, and write docs/benchmarks.md. Run it on a quiet machine: "
        "about 25 minutes on 2 cores, under 2 with --quick."
    )

    def add_arguments(self, parser):
        run.add_arguments(
            parser,
            corpus_dir=Path(settings.DATA_DIR) / "bench",
            model_dir=Path(settings.WHISPER_MODEL_DIR),
        )

    def handle(self, *args, quick, only, repeat, out, corpus_dir, model_dir, **options):
        run.run_benchmark(
            run.RunOptions(
                quick=quick,
                only=only,
                repeat=repeat,
                out=out,
                corpus_dir=corpus_dir,
                model_dir=model_dir,
                command=self.command_line(quick, only, repeat, out),
            ),
            log=self.stdout.write,
        )

    @staticmethod
    def command_line(quick: bool, only: str | None, repeat: int, out: Path | None) -> str:
        """How this report was made, for its header (directories are left out: they vary)."""
        parts = ["python manage.py benchmark"]
        if quick:
            parts.append("--quick")
        if only:
            parts.append(f"--only '{only}'")
        if repeat != 1:
            parts.append(f"--repeat {repeat}")
        if out:
            parts.append(f"--out {out}")
        return " ".join(parts)
