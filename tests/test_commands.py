"""The command-line tools ops use without the web: transcribe, import_calls, install_model."""

import json
import re
import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from transcripts.models import Call
from transcripts.speech.wer import word_error_rate


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_transcribe_prints_json_with_segments_and_timings(speech_sample, speech_script):
    result = json.loads(run("transcribe", str(speech_sample), "--format", "json"))
    assert result["duration"] == pytest.approx(29.7, abs=0.1)
    assert result["model"] == "tiny.en"
    assert set(result["timings"]) >= {"decode_seconds", "transcribe_seconds", "speed"}
    assert word_error_rate(speech_script, result["text"]) < 0.15
    assert result["segments"][0]["start"] < result["segments"][-1]["end"]


def test_transcribe_json_gives_each_segment_of_a_mono_call_its_speaker(two_voice_call):
    path, turns = two_voice_call
    result = json.loads(run("transcribe", str(path), "--format", "json"))
    assert result["voices"] == 2
    assert {s["speaker"] for s in result["segments"]} == {"Speaker 1", "Speaker 2"}
    assert "diarize_seconds" in result["timings"]
    # The first words are the rep's: the first voice heard.
    assert result["segments"][0]["speaker"] == "Speaker 1"
    first_prospect_turn = next(t for t in turns if t.speaker == "prospect")
    said_then = [
        s
        for s in result["segments"]
        if first_prospect_turn.start <= s["start"] < first_prospect_turn.end
    ]
    assert said_then and {s["speaker"] for s in said_then} == {"Speaker 2"}


def test_transcribe_takes_the_number_of_speakers_or_skips_them(speech_sample):
    one = json.loads(run("transcribe", str(speech_sample), "--format", "json", "--speakers", "1"))
    assert one["voices"] == 1
    assert {s["speaker"] for s in one["segments"]} == {"Speaker 1"}
    skipped = json.loads(run("transcribe", str(speech_sample), "--format", "json", "--no-diarize"))
    assert skipped["voices"] is None
    assert {s["speaker"] for s in skipped["segments"]} == {None}
    assert "diarize_seconds" not in skipped["timings"]
    with pytest.raises(CommandError):
        run("transcribe", str(speech_sample), "--speakers", "7")


def test_transcribe_names_the_rep_and_the_customer_of_a_dual_channel_call():
    from tests.conftest import FIXTURES

    stereo = FIXTURES / "stereo_call.mp3"
    result = json.loads(run("transcribe", str(stereo), "--format", "json"))
    assert result["layout"] == "dual" and result["voices"] is None
    by_channel = {(s["channel"], s["speaker"]) for s in result["segments"]}
    assert by_channel == {(0, "Rep"), (1, "Customer")}
    swapped = json.loads(run("transcribe", str(stereo), "--format", "json", "--rep-channel", "1"))
    assert {(s["channel"], s["speaker"]) for s in swapped["segments"]} == {
        (0, "Customer"),
        (1, "Rep"),
    }


@pytest.mark.slow
def test_transcribe_takes_the_quality_as_the_worker_does(speech_sample, speech_script):
    from transcripts.speech.weights import has_packaged_ct2

    if not has_packaged_ct2("base"):
        pytest.skip("base's weights are not installed")
    fast = json.loads(run("transcribe", str(speech_sample), "--format", "json"))
    assert fast["second_pass"]["model"] == "base"
    accurate = json.loads(
        run("transcribe", str(speech_sample), "--format", "json", "--quality", "accurate")
    )
    assert accurate["model"] == "base" and accurate["second_pass"] is None
    assert word_error_rate(speech_script, accurate["text"]) < 0.2


def test_transcribe_prints_subtitles(speech_sample):
    srt = run("transcribe", str(speech_sample), "--format", "srt")
    assert srt.startswith("1\n")
    assert re.search(r"^00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}$", srt, re.M)


def test_transcribe_fails_clearly_on_a_file_that_is_not_audio(tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio")
    with pytest.raises(CommandError, match="1 of 1 file"):
        run("transcribe", str(bad))


def test_import_calls_queues_a_folder_for_the_users_team(tmp_path, alice, acme, speech_sample):
    shutil.copy(speech_sample, tmp_path / "monday.mp3")
    shutil.copy(speech_sample, tmp_path / "tuesday.mp3")
    (tmp_path / "notes.txt").write_text("skipped: not a recording's extension")
    (tmp_path / "broken.wav").write_bytes(b"not audio at all" * 10)
    output = run("import_calls", str(tmp_path), "--user", "alice")
    assert "Queued 2 of 3 recording(s) for Acme Sales." in output
    assert sorted(Call.objects.values_list("original_filename", flat=True)) == [
        "monday.mp3",
        "tuesday.mp3",
    ]
    assert set(Call.objects.values_list("team", "uploaded_by", "status")) == {
        (acme.pk, alice.pk, Call.Status.QUEUED)
    }


def test_install_model_writes_a_checkpoint_once(tmp_path, settings):
    settings.WHISPER_MODEL_DIR = tmp_path
    first = run("install_model", "tiny.en", "--skip-check")
    checkpoint = tmp_path / "openai" / "tiny.en.pt"
    written = checkpoint.stat().st_mtime_ns
    run("install_model", "tiny.en", "--skip-check")
    assert str(checkpoint) in first
    assert checkpoint.stat().st_mtime_ns == written
