"""Uploading a recording: stored privately, queued at once, bad files refused with a reason."""

import pytest
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.urls import reverse
from django_q.models import OrmQ

from transcripts import services
from transcripts.models import Call

UPLOAD_URL = reverse("transcripts:call_upload")


def upload(client, path, title="", **extra):
    with path.open("rb") as handle:
        return client.post(UPLOAD_URL, {"audio": handle, "title": title, **extra})


def test_it_requires_login(client):
    response = client.get(UPLOAD_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_shows_the_form(client_for, alice):
    response = client_for(alice).get(UPLOAD_URL)
    assert response.status_code == 200
    assert b'type="file"' in response.content


def test_it_stores_the_call_and_redirects_to_it_at_once(
    client_for, alice, acme, speech_sample, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client_for(alice), speech_sample, title="Follow-up with Sarah")
    call = Call.objects.get()
    assert response.status_code == 302
    assert response["Location"] == call.get_absolute_url()
    assert call.title == "Follow-up with Sarah"
    assert call.team == acme and call.uploaded_by == alice
    assert call.status == Call.Status.QUEUED
    assert call.duration == pytest.approx(29.7, abs=0.1)
    assert call.original_filename == "sales_call.mp3"


def test_it_enqueues_the_transcription_for_the_workers(
    client_for, alice, speech_sample, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        upload(client_for(alice), speech_sample)
    call = Call.objects.get()
    (queued,) = OrmQ.objects.all()
    task = queued.task
    assert task["func"] == "transcripts.tasks.transcribe_call"
    assert task["args"] == (call.pk,)
    assert call.task_id == task["id"]
    # Nothing was transcribed in the request.
    assert call.segments.count() == 0


def test_it_stores_the_audio_under_a_random_name(client_for, alice, speech_sample, settings):
    upload(client_for(alice), speech_sample)
    call = Call.objects.get()
    assert "sales_call" not in call.audio.name
    assert call.uuid.hex in call.audio.name
    assert (settings.MEDIA_ROOT / call.audio.name).exists()


def test_it_treats_the_original_name_as_harmless_text(client_for, alice, speech_sample):
    content = speech_sample.read_bytes()
    client = client_for(alice)
    client.post(UPLOAD_URL, {"audio": SimpleUploadedFile("../../etc/<b>passwd.mp3", content)})
    call = Call.objects.get()
    assert ".." not in call.audio.name
    page = client.get(call.get_absolute_url()).content.decode()
    assert "<b>passwd" not in page
    assert "&lt;b&gt;passwd.mp3" in page


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("random.wav", bytes(range(256)) * 40, "not an audio or video recording"),
        ("notes.mp3", b"Call Sarah back on Tuesday.\n" * 40, "not an audio or video recording"),
    ],
)
def test_it_refuses_a_file_that_is_not_a_recording(client_for, alice, name, content, message):
    response = client_for(alice).post(UPLOAD_URL, {"audio": SimpleUploadedFile(name, content)})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Call.objects.count() == 0


def test_it_refuses_an_empty_file(client_for, alice):
    response = client_for(alice).post(UPLOAD_URL, {"audio": SimpleUploadedFile("x.wav", b"")})
    assert response.status_code == 400
    assert Call.objects.count() == 0


def test_it_refuses_a_user_without_a_team(client_for, db, speech_sample):
    from tests.conftest import make_user

    loner = make_user("loner")
    response = upload(client_for(loner), speech_sample)
    assert response.status_code == 302
    assert Call.objects.count() == 0


def test_storage_that_is_full_is_said_and_nothing_is_kept(
    client_for, alice, speech_sample, monkeypatch
):
    def full(storage, name, content):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", full)
    response = upload(client_for(alice), speech_sample)
    assert response.status_code == 400
    assert "storage failed (it may be full)" in response.content.decode()
    assert not Call.objects.exists()


def test_an_upload_that_fails_after_its_file_is_stored_leaves_no_file(
    acme, alice, speech_sample, monkeypatch, settings
):
    def database_gone(call):
        raise OperationalError("the database went away")

    monkeypatch.setattr(services, "call_enqueue", database_gone)
    with speech_sample.open("rb") as handle, pytest.raises(OperationalError):
        services.call_create(team=acme, user=alice, upload=File(handle), check=False)
    assert not Call.objects.exists()
    assert [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()] == []
