"""Writes: creating calls and putting them in the queue. Used by views, the admin and commands."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import media, transcription
from .models import (
    Call,
    Invitation,
    Membership,
    Segment,
    Team,
    Tracker,
    VoiceEnrolment,
    VoicePrint,
    discard_stored_file,
)
from .speech import audio
from .speech.base import TranscriptionError

logger = logging.getLogger(__name__)

# An upload the storage could not keep (a full disk, an object store out of reach).
STORAGE_FAILED = (
    "The recording could not be stored: the server's storage failed (it may be full). Nothing "
    "was saved. Try again later, or tell your administrator."
)

# What a worker runs for a call (the reaper looks for it in the broker's queue).
TRANSCRIBE_TASK = "transcripts.tasks.transcribe_call"


def check_recording(source) -> audio.AudioInfo:
    """Refuse, cheaply, what is plainly not a usable recording; the worker catches the rest."""
    try:
        info = audio.probe(source, limits=transcription.probe_limits())
    except TranscriptionError as error:
        raise ValidationError(str(error)) from error
    limit = settings.MAX_AUDIO_HOURS * 3600
    if info.duration is not None and info.duration > limit:
        raise ValidationError(
            f"This recording is {info.duration / 3600:.1f} hours long; "
            f"the limit is {settings.MAX_AUDIO_HOURS:g} hours."
        )
    return info


def check_queue_allowance(user) -> None:
    queued = Call.objects.filter(uploaded_by=user).unfinished().count()
    if queued >= settings.MAX_QUEUED_CALLS_PER_USER:
        raise ValidationError(
            f"You already have {queued} calls waiting to be transcribed. "
            "Please wait for some of them to finish before uploading more."
        )


def default_rep(team: Team, user):
    """Who led a call when nobody says: the uploader, if they are in the call's team."""
    if user is not None and team.memberships.filter(user=user).exists():
        return user
    return None


def check_rep(*, team: Team, user, rep) -> None:
    """A call's rep is a member of its team; a manager (or staff) may name any member, anyone
    else only themselves."""
    if rep is None:
        return
    if not team.memberships.filter(user=rep).exists():
        raise ValidationError(f"{rep.get_username()} is not in {team.name}.")
    if rep != user and not (user.is_staff or team.is_manager(user)):
        raise ValidationError("Only a manager can name someone else as the call's rep.")


def call_create(
    *,
    team: Team,
    user,
    upload: File,
    title: str = "",
    rep=None,
    speakers_expected: int | None = None,
    check: bool = True,
    quality: str = "",
) -> Call:
    """Store an uploaded recording as a new call and queue it for transcription. `rep` is who
    led the call (default: the uploader, if in the team); `speakers_expected` how many people
    speak on it, if known; `quality` the model asked for (blank: the team's).

    Returns at once, whatever the recording's length: the work happens in a worker.
    """
    check_rep(team=team, user=user, rep=rep)
    info = None
    if check:
        check_queue_allowance(user)
        info = check_recording(_local_path_or_file(upload))
        upload.seek(0)
    call = Call(
        team=team,
        uploaded_by=user,
        rep=rep or default_rep(team, user),
        speakers_expected=speakers_expected,
        title=title.strip()[:200],
        original_filename=Path(upload.name or "").name[:255],
        size_bytes=upload.size or 0,
        content_type=(getattr(upload, "content_type", "") or "")[:100],
        duration=info.duration if info else None,
        quality=quality or team.quality,
    )
    with transaction.atomic():
        try:
            call.audio.save(recording_name(info), upload, save=False)
        except Exception as error:
            # A full disk, an object store out of reach: the person is told, not shown a
            # server error, and nothing is saved.
            logger.exception("Storing a recording uploaded to %s failed", team)
            raise ValidationError(STORAGE_FAILED) from error
        try:
            call.save()
            call_enqueue(call)
        except BaseException:
            # The call is rolled back: the file stored for it must not stay behind.
            discard_stored_file(call.audio.storage, call.audio.name)
            raise
    return call


def recording_name(info: audio.AudioInfo | None) -> str:
    """The name a recording is stored under: after what it decoded as, never after the name it
    came with ("x.html" holding a valid WAV is stored as .wav and served as audio, see media)."""
    if info is None:
        return f"recording{media.UNKNOWN_EXTENSION}"
    return f"recording{media.stored_extension(info.format_name, info.codec)}"


def _local_path_or_file(upload: File):
    # Large uploads are already on disk: probing them there reads only the first frames.
    if hasattr(upload, "temporary_file_path"):
        return Path(upload.temporary_file_path())
    upload.seek(0)
    return upload


def call_enqueue(call: Call) -> None:
    """Hand the call to the workers once the current transaction commits.

    Enqueueing after the commit means a worker never looks for a call that is not there yet.
    Where enqueueing fails then, the call is saved all the same: the failure is logged, not
    raised (an upload answered with an error would be uploaded again, and transcribed twice),
    and the reaper queues the call again (tasks.reap_stale_calls).
    """
    from django_q.tasks import async_task

    def enqueue() -> None:
        task_id = async_task(
            TRANSCRIBE_TASK,
            call.pk,
            task_name=f"transcribe {call.uuid.hex[:8]} at {timezone.now():%H:%M:%S.%f}",
            group="transcribe",
            timeout=transcription.task_timeout(call.duration),
        )
        call.record_task(str(task_id or ""))

    transaction.on_commit(enqueue, robust=True)


def work_on_call(call: Call) -> dict:
    """What people changed on a call that "Transcribe again" must not silently lose: edited
    lines, speaker names, the title. Empty when there is nothing."""
    work = {}
    edited = call.edited_segments() if call.status == Call.Status.DONE else []
    if edited:
        work["edits"] = edited
    if any(call.speaker_names.values()):
        work["speaker_names"] = {
            # A voice's number means nothing to people: "Speaker 1" for "0".
            (f"Speaker {int(key) + 1}" if key.isdigit() else key): name
            for key, name in call.speaker_names.items()
            if name
        }
    if call.has_voices and call.moved_line_count():
        work["moved_lines"] = call.moved_line_count()
    if call.title:
        work["title"] = call.title
    return work


# --- Voice prints -------------------------------------------------------------------------------


def voice_enrolment_create(*, user, upload: File) -> VoiceEnrolment:
    """Keep a person's recording of themselves until a worker learns their voice print from it
    (tasks.enrol_voice, which deletes it). Refuses, cheaply, what plainly will not do; the
    speech in it is measured by the worker: the speaker encoder never loads in the web."""
    if VoiceEnrolment.objects.filter(user=user, status=VoiceEnrolment.Status.QUEUED).exists():
        raise ValidationError("Your last recording is still being read: wait a moment.")
    if upload.size > VoiceEnrolment.MAX_BYTES:
        raise ValidationError(
            f"This file is larger than {VoiceEnrolment.MAX_BYTES // (1024 * 1024)} MB: "
            "a recording of a minute or two is enough."
        )
    info = check_recording(_local_path_or_file(upload))
    upload.seek(0)
    if info.duration is not None and info.duration > VoiceEnrolment.MAX_SECONDS:
        raise ValidationError(
            f"This recording is {info.duration:.0f} seconds long: keep it under "
            f"{VoiceEnrolment.MAX_SECONDS:.0f} seconds."
        )
    from django_q.tasks import async_task

    enrolment = VoiceEnrolment(user=user)
    with transaction.atomic():
        enrolment.audio.save(recording_name(info), upload, save=False)
        enrolment.save()
        transaction.on_commit(
            lambda: async_task(
                "transcripts.tasks.enrol_voice",
                enrolment.pk,
                task_name=f"voice print {enrolment.pk} at {timezone.now():%H:%M:%S.%f}",
                group="voice",
            )
        )
    return enrolment


def voice_print_delete(*, user) -> bool:
    """Forget a person's voice print (their calls and an enrolment teach a new one)."""
    deleted, _ = VoicePrint.objects.filter(user=user).delete()
    return bool(deleted)


def call_retranscribe(call: Call) -> bool:
    """Transcribe a finished call again from the start (after a failure, or with a better
    model). False where it is not finished: queued or being transcribed, perhaps again already
    at someone else's request a moment ago."""
    with transaction.atomic():
        if not call.reset_for_retranscription():
            return False
        call_enqueue(call)
    return True


def invitation_send(
    *, team: Team, email: str, role: str, invited_by, site_url: str
) -> tuple[Invitation, str]:
    """Invite an address to a team and e-mail it the invitation; nobody joins until the person
    accepts (see Invitation). Inviting an address again renews its unanswered invitation.

    Whether the address has an account changes nothing here, so the answer to "invite" does
    not tell a manager who has one. Returns the invitation and the link the manager may copy.
    """
    email = email.strip().lower()
    if team.memberships.filter(user__email__iexact=email).exists():
        raise ValidationError(f"Someone with the address {email} is already in {team.name}.")
    with transaction.atomic():
        invitation = (
            Invitation.objects.unanswered().select_for_update().filter(team=team, email=email)
        ).first() or Invitation(team=team, email=email)
        invitation.role, invitation.invited_by = role, invited_by
        return invitation, _issue_and_send(invitation, site_url)


def invitation_resend(*, invitation: Invitation, site_url: str) -> str:
    """E-mail the invitation again with new links (the old ones stop working) and a new
    expiry. Returns the link the manager may copy."""
    if invitation.accepted_at or invitation.revoked_at:
        raise ValidationError("This invitation was answered already.")
    with transaction.atomic():
        return _issue_and_send(invitation, site_url)


def _issue_and_send(invitation: Invitation, site_url: str) -> str:
    from django.core.mail import send_mail
    from django.template.loader import render_to_string

    email_token, link_token = invitation.issue_tokens()
    invitation.save()
    context = {
        "invitation": invitation,
        "team": invitation.team,
        "inviter": invitation.invited_by,
        "accept_url": invitation_url(site_url, email_token),
        "days": settings.INVITATION_DAYS,
    }
    subject = render_to_string("transcripts/email/invitation_subject.txt", context)
    body = render_to_string("transcripts/email/invitation.txt", context)

    def send() -> None:
        try:
            send_mail(" ".join(subject.split()), body, None, [invitation.email])
        except OSError:
            # The manager still has the link to copy; the log tells ops what to fix.
            logger.exception("Could not e-mail the invitation of %s", invitation.email)

    # Sent only once the invitation is saved for good, so its link works when it arrives.
    transaction.on_commit(send)
    return invitation_url(site_url, link_token)


def invitation_url(site_url: str, token: str) -> str:
    from urllib.parse import urljoin

    from django.urls import reverse

    return urljoin(site_url, reverse("transcripts:invitation_accept", args=[token]))


LAST_MANAGER = (
    "{name} is the team's only manager, and a team needs one: make another member manager "
    "first (Role, then Save), then try again."
)


def _refuse_if_last_manager(membership: Membership) -> None:
    """A team always keeps a manager. The managers' rows are locked, so that two managers who
    demote or remove each other at the same moment cannot leave the team without one."""
    managers = list(
        membership.team.memberships.select_for_update()
        .filter(role=Membership.Role.MANAGER)
        .values_list("pk", flat=True)
    )
    if managers == [membership.pk]:
        raise ValidationError(LAST_MANAGER.format(name=membership.user.get_username()))


def member_remove(*, membership: Membership) -> None:
    """Remove a person from a team. The last manager stays: a team always has one."""
    with transaction.atomic():
        _refuse_if_last_manager(membership)
        membership.delete()


def member_set_role(*, membership: Membership, role: str) -> None:
    """Make a member a manager or a manager a member; the last manager stays one."""
    if role not in Membership.Role.values:
        raise ValidationError("Choose member or manager.")
    with transaction.atomic():
        if membership.is_manager and role != Membership.Role.MANAGER:
            _refuse_if_last_manager(membership)
        membership.role = role
        membership.save(update_fields=["role"])


def team_may_be_created_by(user) -> bool:
    """TEAM_CREATION: "anyone" (every user may start a team) or "staff"."""
    if settings.TEAM_CREATION == "staff":
        return user.is_staff
    return user.is_authenticated


def slugs_taken(base: str) -> set[str]:
    """The slugs a new team named like `base` cannot have, read in one query: a thousand teams
    of one name cost the thousand-and-first one query, not a thousand."""
    # "switch" is a URL of its own (teams/switch/), not a team's page.
    return {"switch", *Team.objects.filter(slug__startswith=base).values_list("slug", flat=True)}


def team_create(*, name: str, user) -> Team:
    """A new team, with `user` as its manager (and the default trackers)."""
    from django.utils.text import slugify

    base = slugify(name)[:80] or "team"
    taken = slugs_taken(base)
    slugs = (base if number == 1 else f"{base}-{number}" for number in itertools.count(1))
    for slug in slugs:  # endless: some slug is always free
        if slug in taken:
            continue
        try:
            with transaction.atomic():
                team = Team.objects.create(name=name, slug=slug)
                Membership.objects.create(team=team, user=user, role=Membership.Role.MANAGER)
        except IntegrityError:
            continue  # a team of the same name made at the same moment took the slug
        return team


def team_rename(*, team: Team, name: str) -> None:
    # The slug, and so every link to the team, stays as it was.
    team.name = name
    team.save(update_fields=["name"])


# --- Transcript corrections and trackers ------------------------------------------------------


def segment_edit(*, segment: Segment, text: str) -> bool:
    """Correct a line of a transcript (Whisper's version is kept); a worker updates the
    analytics."""
    with transaction.atomic():
        changed = segment.edit_text(text)
        if changed:
            _transcript_changed(segment.call)
    return changed


def segment_restore(*, segment: Segment) -> bool:
    """Put back what Whisper heard."""
    with transaction.atomic():
        changed = segment.restore_text()
        if changed:
            _transcript_changed(segment.call)
    return changed


def call_set_rep(*, call: Call, user, rep) -> bool:
    """Name the team member who led the call (None: nobody). The rep's name labels their
    voice, and the dashboard's talk share per rep follows."""
    check_rep(team=call.team, user=user, rep=rep)
    if rep == call.rep:
        return False
    with transaction.atomic():
        call.rep = rep
        call.save(update_fields=["rep"])
        if call.has_voices:
            call.relabel_speakers()
        if call.status == Call.Status.DONE:
            _transcript_changed(call)
    return True


# --- Speakers told apart by voice, fixed by hand ------------------------------------------
# Each change relabels the lines at once; a worker recomputes the analytics, as after a
# corrected line.


def line_move(*, segment: Segment, voice: int) -> bool:
    """Give a line to another speaker (its machine voice is kept)."""
    call = segment.call
    with transaction.atomic():
        changed = call.move_line(segment, voice)
        if changed:
            _transcript_changed(call)
    return changed


def voices_merge(*, call: Call, source: int, target: int) -> int:
    with transaction.atomic():
        moved = call.merge_voices(source, target)
        _transcript_changed(call)
    return moved


def rep_voice_set(*, call: Call, voice: int | None) -> bool:
    with transaction.atomic():
        changed = call.set_rep_voice(voice)
        if changed:
            _transcript_changed(call)
    return changed


def voices_restore(*, call: Call) -> bool:
    with transaction.atomic():
        changed = call.restore_machine_voices()
        if changed:
            _transcript_changed(call)
    return changed


def _transcript_changed(call: Call) -> None:
    call.transcript_changed()
    # Forced: a refresh already running may have read the lines before this correction.
    call_refresh_analytics_later(call, force=True)


def tracker_save(*, tracker: Tracker) -> None:
    with transaction.atomic():
        tracker.save()
        trackers_changed(tracker.team)


def tracker_delete(*, tracker: Tracker) -> None:
    with transaction.atomic():
        tracker.delete()
        trackers_changed(tracker.team)


def trackers_changed(team: Team) -> None:
    """The team's trackers changed, so every call's hits must be found again.

    A worker goes through the team's calls (there may be thousands); until it gets to a call,
    the call's page shows the previous figures as being updated (see Call.analytics_stale).
    """
    from django_q.tasks import async_task

    team.trackers_changed_at = timezone.now()
    team.save(update_fields=["trackers_changed_at"])
    transaction.on_commit(
        lambda: async_task(
            "transcripts.tasks.refresh_team_analytics",
            team.pk,
            task_name=f"analytics {team.slug} at {timezone.now():%H:%M:%S.%f}",
            group="analytics",
        )
    )


def call_refresh_analytics_later(call: Call, *, force: bool = False) -> None:
    """Have a worker recompute the call's analytics, once the current transaction commits."""
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(
            "transcripts.tasks.refresh_call_analytics",
            call.pk,
            force=force,
            task_name=f"analytics {call.uuid.hex[:8]} at {timezone.now():%H:%M:%S.%f}",
            group="analytics",
        )
    )


# A page asks the workers for fresh analytics at most this often per call (and web process).
ANALYTICS_REQUEST_SECONDS = 60


def call_request_analytics(call: Call) -> bool:
    """Whether the call's analytics are out of date; if they are, a worker is asked to
    recompute them. Pages never recompute them: with many trackers and lines that is
    unbounded work, so they show the last figures as being updated."""
    from django.core.cache import cache

    if not call.analytics_stale:
        return False
    # Polling pages ask again and again; one queued refresh a minute is enough.
    stamp = call.analytics_at.timestamp() if call.analytics_at else 0
    key = f"analytics-requested:{call.uuid.hex}:{stamp}"
    if cache.add(key, True, ANALYTICS_REQUEST_SECONDS):
        call_refresh_analytics_later(call)
    return True
