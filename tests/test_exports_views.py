"""Downloading a call's transcript: every format parses, speakers carry their names, and a file
is never served to someone outside the call's team."""

import io
import json
import re

import pytest
from django.urls import reverse
from docx import Document

from transcripts.models import Call

SRT_TIME = r"(\d\d):(\d\d):(\d\d),(\d\d\d)"
VTT_TIME = r"(\d\d):(\d\d):(\d\d)\.(\d\d\d)"


def download(client, call, fmt):
    return client.get(reverse("transcripts:call_export", args=[call.uuid, fmt]))


def seconds(match: tuple[str, ...]) -> float:
    hours, minutes, secs, millis = map(int, match)
    return hours * 3600 + minutes * 60 + secs + millis / 1000


def cue_times(text: str, pattern: str) -> list[tuple[float, float]]:
    return [
        (seconds(m[:4]), seconds(m[4:]))
        for m in re.findall(rf"^{pattern} --> {pattern}$", text, flags=re.M)
    ]


@pytest.mark.parametrize(
    "fmt, content_type",
    [
        ("txt", "text/plain; charset=utf-8"),
        ("srt", "application/x-subrip; charset=utf-8"),
        ("vtt", "text/vtt; charset=utf-8"),
        ("json", "application/json; charset=utf-8"),
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ],
)
def test_each_format_is_a_download_with_a_safe_name(
    client_for, alice, dual_call, fmt, content_type
):
    response = download(client_for(alice), dual_call, fmt)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == (
        f'attachment; filename="discovery-call-with-initech.{fmt}"'
    )


def test_a_title_that_is_no_file_name_is_made_safe(client_for, alice, acme, make_dual_call):
    call = make_dual_call(acme, alice, title='../../etc/passwd "quoted"\r\nX-Evil: 1')
    response = download(client_for(alice), call, "txt")
    assert response["Content-Disposition"] == 'attachment; filename="etcpasswd-quoted-x-evil-1.txt"'
    accented = make_dual_call(acme, alice, title="Café: no name ✓")
    response = download(client_for(alice), accented, "txt")
    assert response["Content-Disposition"] == 'attachment; filename="cafe-no-name.txt"'


def test_an_untitled_call_is_named_after_its_file(client_for, alice, acme, make_dual_call):
    call = make_dual_call(acme, alice, title="")
    response = download(client_for(alice), call, "srt")
    assert response["Content-Disposition"] == 'attachment; filename="sales_call.srt"'


def test_srt_cues_are_numbered_and_timed(client_for, alice, dual_call):
    text = download(client_for(alice), dual_call, "srt").content.decode()
    times = cue_times(text, SRT_TIME)
    assert len(times) == 7
    assert all(start < end for start, end in times)
    assert [start for start, _ in times] == sorted(start for start, _ in times)
    assert times[0] == (0.5, 3.0)
    assert re.findall(r"^(\d+)$", text, flags=re.M) == [str(n) for n in range(1, 8)]
    assert "Rep: Hi Sarah, thanks for taking my call." in text


def test_vtt_is_webvtt_with_voices(client_for, alice, dual_call):
    text = download(client_for(alice), dual_call, "vtt").content.decode()
    assert text.startswith("WEBVTT - Discovery call with Initech\n\n")
    times = cue_times(text, VTT_TIME)
    assert len(times) == 7 and all(start < end for start, end in times)
    assert times[5] == (19.5, 23.0)
    assert "<v Customer>Could you send over a proposal?" in text


def test_json_round_trips(client_for, alice, dual_call):
    data = json.loads(download(client_for(alice), dual_call, "json").content)
    assert data["title"] == "Discovery call with Initech"
    assert data["duration"] == 30.0
    assert data["speakers"] == ["Rep", "Customer"]
    stored = list(dual_call.segments.values_list("start", "end", "text", "speaker"))
    assert [(s["start"], s["end"], s["text"], s["speaker"]) for s in data["segments"]] == stored
    assert data["analytics"] == Call.objects.get(pk=dual_call.pk).analytics


def test_docx_opens_in_python_docx(client_for, alice, dual_call):
    content = download(client_for(alice), dual_call, "docx").content
    document = Document(io.BytesIO(content))
    text = "\n".join(p.text for p in document.paragraphs)
    assert document.core_properties.title == "Discovery call with Initech"
    assert "[0:00] Rep\nHi Sarah, thanks for taking my call." in text
    assert "Summary" in text and "Talk time: Rep 63%" in text


def test_renamed_speakers_are_named_in_every_export(client_for, alice, dual_call):
    dual_call.rename_speakers({"Rep": "Dana", "Customer": "Sarah Lee"})
    client = client_for(alice)
    txt = download(client, dual_call, "txt").content.decode()
    assert "[0:03] Sarah Lee: Sure, happy to talk." in txt
    assert "Talk time: Dana 63%" in txt
    assert "Customer" not in txt and "Rep:" not in txt
    assert "Sarah Lee: Sure, happy to talk." in download(client, dual_call, "srt").content.decode()
    assert "<v Sarah Lee>Sure" in download(client, dual_call, "vtt").content.decode()
    data = json.loads(download(client, dual_call, "json").content)
    assert data["speakers"] == ["Dana", "Sarah Lee"]
    assert {h["speaker"] for h in data["analytics"]["tracker_hits"]} == {"Dana", "Sarah Lee"}
    document = Document(io.BytesIO(download(client, dual_call, "docx").content))
    assert any(p.text.startswith("[0:03] Sarah Lee") for p in document.paragraphs)


def test_corrections_are_in_the_exports(client_for, alice, dual_call):
    dual_call.segments.get(index=1).edit_text("Sure, glad to talk.")
    txt = download(client_for(alice), dual_call, "txt").content.decode()
    assert "Sure, glad to talk." in txt and "happy" not in txt


def test_an_unknown_format_is_not_found(client_for, alice, dual_call):
    assert download(client_for(alice), dual_call, "pdf").status_code == 404


def test_a_call_without_a_transcript_has_no_export(client_for, alice, acme, make_call):
    call = make_call(acme, alice)
    assert download(client_for(alice), call, "txt").status_code == 404


@pytest.mark.parametrize("fmt", ["txt", "srt", "vtt", "json", "docx"])
def test_another_teams_call_is_not_found(client_for, charlie, dual_call, fmt):
    assert download(client_for(charlie), dual_call, fmt).status_code == 404


def test_exports_require_login(client, dual_call):
    response = download(client, dual_call, "txt")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
