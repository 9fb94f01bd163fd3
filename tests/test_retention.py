"""Retention: recordings kept N days, transcripts M days, holds, the schedule, the team's ZIP."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage
from django.db.models.signals import post_delete
from django.urls import reverse
from django_q.models import Schedule

from transcripts import services
from transcripts.models import Call, Segment, TrackerHit
from transcripts.retention import apply_retention

UPLOADED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def rules(acme):
    acme.audio_retention_days = 30
    acme.transcript_retention_days = 90
    acme.save()
    return acme


@pytest.fixture
def old_call(rules, alice, make_dual_call):
    with time_machine.travel(UPLOADED, tick=False):
        return make_dual_call(rules, alice, title="January call")


def run_at(moment: datetime, django_capture_on_commit_callbacks) -> str:
    with time_machine.travel(moment, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            return apply_retention()


def test_expired_audio_goes_and_the_transcript_stays(
    old_call, settings, django_capture_on_commit_callbacks
):
    file = settings.MEDIA_ROOT / old_call.audio.name
    assert file.exists()
    before = run_at(UPLOADED + timedelta(days=29), django_capture_on_commit_callbacks)
    assert before.startswith("0 recording(s) and 0 call(s)")
    assert file.exists()

    report = run_at(UPLOADED + timedelta(days=31), django_capture_on_commit_callbacks)
    assert report.startswith("1 recording(s) and 0 call(s)")
    old_call.refresh_from_db()
    assert not old_call.has_audio
    assert old_call.audio_deleted_at == UPLOADED + timedelta(days=31)
    assert not file.exists()
    assert old_call.segments.count() == 7
    assert old_call.analytics is not None


def test_expired_transcripts_go_with_their_call_and_analytics(
    old_call, settings, django_capture_on_commit_callbacks
):
    file = settings.MEDIA_ROOT / old_call.audio.name
    report = run_at(UPLOADED + timedelta(days=91), django_capture_on_commit_callbacks)
    assert report.startswith("1 recording(s) and 1 call(s)")
    assert not Call.objects.filter(pk=old_call.pk).exists()
    assert not Segment.objects.filter(call_id=old_call.pk).exists()
    assert not TrackerHit.objects.filter(call_id=old_call.pk).exists()
    assert not file.exists()


def test_it_is_safe_to_run_twice(old_call, django_capture_on_commit_callbacks):
    moment = UPLOADED + timedelta(days=31)
    run_at(moment, django_capture_on_commit_callbacks)
    again = run_at(moment, django_capture_on_commit_callbacks)
    assert again.startswith("0 recording(s) and 0 call(s)")
    later = UPLOADED + timedelta(days=91)
    run_at(later, django_capture_on_commit_callbacks)
    assert run_at(later, django_capture_on_commit_callbacks).startswith("0 recording(s)")


def test_a_held_call_is_kept(old_call, django_capture_on_commit_callbacks, settings):
    old_call.set_retention_hold(True)
    run_at(UPLOADED + timedelta(days=400), django_capture_on_commit_callbacks)
    old_call.refresh_from_db()
    assert old_call.has_audio
    assert (settings.MEDIA_ROOT / old_call.audio.name).exists()
    assert old_call.segments.count() == 7


def test_nothing_else_is_touched(
    old_call,
    globex,
    make_dual_call,
    make_call,
    charlie,
    alice,
    rules,
    django_capture_on_commit_callbacks,
):
    with time_machine.travel(UPLOADED, tick=False):
        # Another team without rules, a recent call, and a call still being transcribed.
        other_team = make_dual_call(globex, charlie, title="Globex call")
        unfinished = make_call(rules, alice, status=Call.Status.PROCESSING)
    with time_machine.travel(UPLOADED + timedelta(days=85), tick=False):
        recent = make_dual_call(rules, alice, title="Recent call")
    run_at(UPLOADED + timedelta(days=91), django_capture_on_commit_callbacks)
    assert not Call.objects.filter(pk=old_call.pk).exists()
    for call in (other_team, unfinished, recent):
        call.refresh_from_db()
        assert call.has_audio, call
        assert call.audio.storage.exists(call.audio.name)
    assert other_team.segments.count() == recent.segments.count() == 7


def test_blank_rules_keep_everything(
    acme, alice, make_dual_call, django_capture_on_commit_callbacks
):
    with time_machine.travel(UPLOADED, tick=False):
        call = make_dual_call(acme, alice)
    run_at(UPLOADED + timedelta(days=3650), django_capture_on_commit_callbacks)
    call.refresh_from_db()
    assert call.has_audio and call.segments.exists()


def test_a_schedule_applies_the_rules_every_hour(db):
    schedule = Schedule.objects.get(name="Apply retention rules")
    assert schedule.func == "transcripts.retention.apply_retention"
    assert schedule.schedule_type == Schedule.HOURLY
    assert schedule.repeats == -1


@pytest.mark.parametrize(
    "audio, transcripts, valid",
    [(30, 90, True), (90, 90, True), (None, None, True), (30, None, True), (91, 90, False)],
)
def test_recordings_are_never_kept_longer_than_transcripts(acme, audio, transcripts, valid):
    acme.audio_retention_days = audio
    acme.transcript_retention_days = transcripts
    if valid:
        acme.full_clean()
    else:
        with pytest.raises(ValidationError, match="longer than transcripts"):
            acme.full_clean()


def test_audio_kept_for_ever_with_transcripts_deleted_is_refused(acme):
    acme.transcript_retention_days = 90
    with pytest.raises(ValidationError):
        acme.full_clean()


def test_a_manager_sets_the_rules_on_the_team_page(client_for, alice, acme):
    client = client_for(alice)
    url = reverse("transcripts:team_retention", args=[acme.slug])
    client.post(url, {"audio_retention_days": "30", "transcript_retention_days": "365"})
    acme.refresh_from_db()
    assert (acme.audio_retention_days, acme.transcript_retention_days) == (30, 365)

    refused = client.post(
        url, {"audio_retention_days": "400", "transcript_retention_days": "365"}, follow=True
    )
    assert "longer than transcripts" in refused.content.decode()
    acme.refresh_from_db()
    assert acme.audio_retention_days == 30

    client.post(url, {"audio_retention_days": "", "transcript_retention_days": ""})
    acme.refresh_from_db()
    assert acme.audio_retention_days is None and acme.transcript_retention_days is None


def test_a_member_cannot_change_the_rules(client_for, bob, acme):
    url = reverse("transcripts:team_retention", args=[acme.slug])
    assert client_for(bob).post(url, {"audio_retention_days": "1"}).status_code == 403


def test_the_call_page_says_when_its_audio_will_be_deleted(old_call, client_for, alice):
    page = client_for(alice).get(old_call.get_absolute_url()).content.decode()
    assert "The recording will be deleted on 4 Feb 2026" in page
    assert "will be deleted on 5 Apr 2026" in page
    assert 'id="player"' in page


def test_a_call_whose_audio_is_gone_shows_its_transcript_without_a_player(
    old_call, client_for, alice, django_capture_on_commit_callbacks
):
    run_at(UPLOADED + timedelta(days=31), django_capture_on_commit_callbacks)
    client = client_for(alice)
    page = client.get(old_call.get_absolute_url()).content.decode()
    assert 'id="player"' not in page
    assert "The recording was deleted on 5 Feb 2026" in page
    assert "What does your team use for call notes today?" in page
    audio = client.get(reverse("transcripts:call_audio", args=[old_call.uuid]))
    assert audio.status_code == 404


def test_a_manager_places_and_lifts_a_hold(old_call, client_for, alice):
    client = client_for(alice)
    url = reverse("transcripts:call_hold", args=[old_call.uuid])
    client.post(url, {"hold": "1"})
    old_call.refresh_from_db()
    assert old_call.retention_hold
    page = client.get(old_call.get_absolute_url()).content.decode()
    assert "On hold" in page and "will be deleted on" not in page
    client.post(url, {"hold": "0"})
    old_call.refresh_from_db()
    assert not old_call.retention_hold


def test_a_member_cannot_place_a_hold_even_on_their_own_call(rules, bob, make_call, client_for):
    call = make_call(rules, bob)
    response = client_for(bob).post(
        reverse("transcripts:call_hold", args=[call.uuid]), {"hold": "1"}
    )
    assert response.status_code == 403
    call.refresh_from_db()
    assert not call.retention_hold


def test_a_manager_exports_every_transcript_of_the_team_as_a_zip(
    acme, globex, alice, charlie, make_dual_call, make_call, client_for
):
    first = make_dual_call(acme, alice, title="Discovery call")
    make_dual_call(acme, alice, title="Follow-up call")
    make_call(acme, alice, title="Still queued")
    make_dual_call(globex, charlie, title="Globex secret")
    response = client_for(alice).get(reverse("transcripts:team_export", args=[acme.slug]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert 'filename="acme-transcripts.zip"' in response["Content-Disposition"]
    assert response.streaming
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert len(names) == 4
    assert any(name.endswith(f"discovery-call-{first.uuid.hex[:8]}.txt") for name in names)
    json_name = next(n for n in names if "discovery" in n and n.endswith(".json"))
    exported = json.loads(archive.read(json_name))
    assert exported["title"] == "Discovery call"
    assert len(exported["segments"]) == 7
    assert not any("globex" in name for name in names)


def test_a_member_cannot_export_the_team(acme, bob, client_for):
    response = client_for(bob).get(reverse("transcripts:team_export", args=[acme.slug]))
    assert response.status_code == 403


def test_the_admin_shows_a_deleted_recording_and_edits_the_hold(
    old_call, staff, client_for, django_capture_on_commit_callbacks
):
    run_at(UPLOADED + timedelta(days=31), django_capture_on_commit_callbacks)
    url = reverse("admin:transcripts_call_change", args=[old_call.pk])
    page = client_for(staff).get(url)
    assert page.status_code == 200
    assert "Deleted under the team&#x27;s retention rules on 2026-02-05" in page.content.decode()
    assert 'name="retention_hold"' in page.content.decode()


@pytest.fixture
def two_old_calls(rules, alice, make_dual_call):
    with time_machine.travel(UPLOADED, tick=False):
        return [make_dual_call(rules, alice, title=title) for title in ("first", "second")]


def meanwhile(change):
    """Run `change(call)` on the other of two calls while a retention run deletes one of them:
    the run has read its list of calls already."""

    def on_delete(sender, instance, **kwargs):
        others = Call.objects.exclude(pk=instance.pk)
        if others.exists():
            change(others.get())

    return on_delete


@pytest.mark.parametrize(
    "change",
    [
        lambda call: call.set_retention_hold(True),
        # As "Transcribe again" leaves it (its recording is gone by now: tested below).
        lambda call: Call.objects.filter(pk=call.pk).update(status=Call.Status.QUEUED),
    ],
    ids=["held", "queued-again"],
)
def test_a_call_held_or_queued_again_during_a_run_is_kept(
    two_old_calls, change, django_capture_on_commit_callbacks
):
    post_delete.connect(meanwhile(change), sender=Call, weak=False, dispatch_uid="retention-race")
    try:
        report = run_at(UPLOADED + timedelta(days=91), django_capture_on_commit_callbacks)
    finally:
        post_delete.disconnect(sender=Call, dispatch_uid="retention-race")
    assert "and 1 call(s)" in report
    assert Call.objects.count() == 1


def test_the_recording_of_a_call_queued_again_during_a_run_is_kept(
    two_old_calls, monkeypatch, django_capture_on_commit_callbacks
):
    first, second = two_old_calls
    delete_audio = Call.delete_audio

    def queue_the_other_first(call):
        other = Call.objects.get(pk=(second if call.pk == first.pk else first).pk)
        if other.is_finished and other.has_audio:
            services.call_retranscribe(other)  # someone clicks "Transcribe again" now
        return delete_audio(call)

    monkeypatch.setattr(Call, "delete_audio", queue_the_other_first)
    report = run_at(UPLOADED + timedelta(days=31), django_capture_on_commit_callbacks)
    assert report.startswith("1 recording(s)")
    queued = Call.objects.get(status=Call.Status.QUEUED)
    assert queued.has_audio


def test_a_call_whose_recording_is_gone_is_not_transcribed_again(
    old_call, client_for, alice, django_capture_on_commit_callbacks
):
    run_at(UPLOADED + timedelta(days=31), django_capture_on_commit_callbacks)
    old_call.refresh_from_db()
    with pytest.raises(ValidationError, match="deleted under the team's retention rules"):
        services.call_retranscribe(old_call)
    client = client_for(alice)
    page = client.get(old_call.get_absolute_url()).content.decode()
    assert "Transcribe again" not in page
    url = reverse("transcripts:call_retranscribe", args=[old_call.uuid])
    page = client.post(url, {"confirmed": "yes"}, follow=True).content.decode()
    assert "cannot be transcribed again" in page
    old_call.refresh_from_db()
    assert old_call.status == Call.Status.DONE and old_call.segments.count() == 7


@pytest.mark.django_db(transaction=True)
def test_storage_that_fails_to_delete_costs_the_file_not_the_run(
    rules, globex, alice, charlie, make_dual_call, monkeypatch, settings, caplog
):
    globex.audio_retention_days, globex.transcript_retention_days = 30, 90
    globex.save()
    with time_machine.travel(UPLOADED, tick=False):
        acmes = make_dual_call(rules, alice)
        globexs = make_dual_call(globex, charlie)
    left = settings.MEDIA_ROOT / acmes.audio.name

    def out_of_reach(storage, name):
        raise OSError("the store is out of reach")

    monkeypatch.setattr(FileSystemStorage, "delete", out_of_reach)
    with time_machine.travel(UPLOADED + timedelta(days=31), tick=False):
        assert apply_retention().startswith("2 recording(s)")
    # Both teams' recordings are marked gone; the files left behind are named in the log.
    assert not Call.objects.get(pk=acmes.pk).has_audio
    assert not Call.objects.get(pk=globexs.pk).has_audio
    assert left.exists() and acmes.audio.name in caplog.text


def test_a_recording_missing_from_storage_is_not_found(old_call, client_for, alice, settings):
    (settings.MEDIA_ROOT / old_call.audio.name).unlink()
    url = reverse("transcripts:call_audio", args=[old_call.uuid])
    assert client_for(alice).get(url).status_code == 404
    assert client_for(alice).get(url, HTTP_RANGE="bytes=0-99").status_code == 404
