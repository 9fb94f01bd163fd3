import json
import time
from dataclasses import replace
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from transcripts import exports, speakers, transcription
from transcripts import quality as choices
from transcripts.models import Quality
from transcripts.speech.base import TranscriptionError
from transcripts.speech.engines import load_engine
from transcripts.speech.pipeline import (
    diarize_track,
    in_time_order,
    load_recording,
    transcribe_recording,
)


class Command(BaseCommand):
    help = (
        "Transcribe recordings with the same engine and settings as the workers, without the web."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--format", choices=["text", "json", "srt"], default="text")
        parser.add_argument("--model", help="Whisper model name (default: WHISPER_MODEL).")
        parser.add_argument("--engine", help="faster, openai or api (default: WHISPER_ENGINE).")
        parser.add_argument(
            "--speakers",
            type=int,
            choices=range(1, speakers.MAX_SPEAKERS + 1),
            metavar=f"1-{speakers.MAX_SPEAKERS}",
            help="How many people speak on a mono recording (default: found by voice).",
        )
        parser.add_argument(
            "--no-diarize",
            action="store_true",
            help="Do not tell the voices of a mono recording apart (faster).",
        )
        parser.add_argument(
            "--rep-channel",
            type=int,
            choices=(0, 1),
            default=0,
            help="The rep's channel of a dual-channel recording: 0 left (default), 1 right.",
        )
        parser.add_argument(
            "--quality",
            choices=[q.value for q in Quality],
            default=Quality.FAST,
            help="fast (WHISPER_MODEL, with the second pass) or accurate (WHISPER_ACCURATE_MODEL)"
            "; --model names another model instead.",
        )

    def handle(
        self,
        *args,
        files,
        format,
        model,
        engine,
        quality,
        speakers,
        no_diarize,
        rep_channel,
        **options,
    ):
        self.voices_expected = speakers
        self.diarize = not no_diarize
        self.rep_channel = rep_channel
        spec = transcription.engine_spec()
        model = model or choices.model_for(quality)
        spec = replace(spec, model=model, engine=engine or spec.engine)
        decode_options = transcription.decode_options()
        started = time.monotonic()
        try:
            loaded = load_engine(spec)
            # As the worker does: a Fast call's unsure lines decoded again, where base is here.
            self.second_pass = transcription.second_pass(spec)
        except TranscriptionError as error:
            raise CommandError(str(error)) from error
        load_seconds = time.monotonic() - started
        failures = 0
        for path in files:
            try:
                result, segments = self.transcribe(loaded, path, decode_options)
            except TranscriptionError as error:
                failures += 1
                self.stderr.write(f"{path}: {error}")
                continue
            result["timings"]["model_load_seconds"] = round(load_seconds, 3)
            load_seconds = 0.0  # loaded once, for the first file only
            self.stdout.write(self.render(result, segments, format))
        if failures:
            raise CommandError(f"{failures} of {len(files)} file(s) could not be transcribed.")

    def transcribe(self, engine, path: Path, decode_options) -> tuple[dict, list]:
        """The file's transcript as the JSON output reports it, and its segments."""
        started = time.monotonic()
        # Decoded as the worker decodes: in a child process bounded in time and memory.
        with load_recording(
            path,
            max_seconds=transcription.max_audio_seconds(),
            limits=transcription.decode_limits(),
        ) as recording:
            decoded = time.monotonic()
            speech: list[tuple[float, float]] = []
            # As the worker does: a dual-channel call's channels apart, then in time order.
            heard = in_time_order(
                transcribe_recording(
                    recording,
                    engine,
                    decode_options,
                    window_seconds=transcription.window_seconds(),
                    on_heard=lambda channel, spans, unheard: speech.extend(spans),
                    second_pass=self.second_pass,
                )
            )
            finished = diarized = time.monotonic()
            voices = None
            if recording.is_dual:
                labelled = [
                    (channel, speakers.role(channel, self.rep_channel), segment)
                    for channel, segment in heard
                ]
            elif self.diarize:
                found, attributed = diarize_track(
                    recording,
                    [segment for _, segment in heard],
                    speakers=self.voices_expected,
                    speech=speech or None,
                )
                voices = found.voices
                labelled = [
                    (None, speakers.voice_label(voice, rep_voice=None, voices=voices), segment)
                    for voice, segment in attributed
                ]
                diarized = time.monotonic()
            else:
                labelled = [(channel, None, segment) for channel, segment in heard]
        segments = [segment for _, _, segment in labelled]
        duration = recording.duration
        timings = {
            "decode_seconds": round(decoded - started, 3),
            "transcribe_seconds": round(finished - decoded, 3),
        }
        if voices is not None:
            timings["diarize_seconds"] = round(diarized - finished, 3)
        result = {
            "file": str(path),
            "duration": round(duration, 3),
            "layout": recording.report.layout,
            **engine.describe(),
            "options": decode_options.as_dict(),
            "second_pass": self.second_pass.describe() if self.second_pass else None,
            # Mono recordings: voices told apart (None when not diarized).
            "voices": voices,
            "timings": {**timings, "speed": round(duration / max(diarized - started, 1e-9), 2)},
            "text": " ".join(segment.text for segment in segments),
            "segments": [
                {**segment.as_dict(), "channel": channel, "speaker": speaker}
                for channel, speaker, segment in labelled
            ],
        }
        return result, segments

    def render(self, result: dict, segments: list, format: str) -> str:
        if format == "json":
            return json.dumps(result, indent=2)
        if format == "srt":
            return exports.to_srt(segments, title=result["file"], duration=result["duration"])
        return result["text"]
