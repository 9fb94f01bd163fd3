"""What the Django-Q2 workers run. Nothing here runs in a web request."""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
import uuid
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from . import services, speakers
from .models import Call, ClusterHeartbeat, Segment, Team
from .speech import audio
from .speech.base import SAMPLE_RATE, TranscriptionError
from .speech.engines import load_engine
from .speech.pipeline import transcribe_long

logger = logging.getLogger(__name__)

# Progress is written at most this often: enough for a live bar, little load on the database.
PROGRESS_INTERVAL_SECONDS = 1.0
UNEXPECTED_FAILURE = (
    "Something went wrong while transcribing this call. It has been logged; "
    "try again, and if it fails again, contact your administrator."
)


# A database that goes away (a restart, a failover) is waited for this long, in steps, before
# the run gives up; the call is then retried by the reaper once its lease runs out.
DATABASE_RETRY_DELAYS = (0.5, 1, 2, 4, 8, 15)


def with_database_retry(write):
    """Run a database write, reconnecting and retrying while the database is unreachable."""
    for delay in (*DATABASE_RETRY_DELAYS, None):
        try:
            return write()
        except (OperationalError, InterfaceError):
            if delay is None:
                raise
            logger.warning("Database unreachable; retrying in %s s", delay)
            connection.close()
            time.sleep(delay)


class LeaseLost(Exception):
    """The call was taken from this worker (cancelled, deleted, or reaped as stale)."""


def worker_id() -> str:
    """Names the worker holding a call: host and process (what ops need to find it)."""
    tag = os.environ.get("CALLSCRIBE_WORKER_TAG", "")
    return f"{tag + ':' if tag else ''}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@functools.cache
def yield_cpu_to_the_web() -> None:
    """Run this worker process at a lower CPU priority, once: on a machine that also serves the
    web, pages stay fast while calls are transcribed (docs/benchmarks.md has the figures)."""
    if settings.WORKER_NICENESS:
        os.nice(settings.WORKER_NICENESS)


def transcribe_call(call_id: int) -> str:
    """Transcribe one call, unless another worker already has it. Returns what happened."""
    yield_cpu_to_the_web()
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return "deleted"
    worker = worker_id()
    if not call.claim(worker):
        # Finished, or held by a live worker: a re-delivered or duplicate task does nothing.
        return f"skipped ({call.status})"
    try:
        CallTranscription(call, worker).run()
    except LeaseLost:
        logger.info("Call %s was taken from worker %s; stopping.", call.pk, worker)
        return "stopped"
    except TranscriptionError as error:
        call.fail(str(error), worker=worker)
    except Exception:
        logger.exception("Transcribing call %s failed", call.pk)
        call.fail(UNEXPECTED_FAILURE, worker=worker)
    call.refresh_from_db(fields=["status"])
    return call.status


class CallTranscription:
    """One worker's run over one call: decode, transcribe window by window, save as it goes."""

    def __init__(self, call: Call, worker: str):
        self.call = call
        self.worker = worker
        self.last_report = 0.0
        self.best_fraction = 0.0
        # The track being transcribed: its channel (None for one voice), speaker and its start
        # in the seconds of work that resume_at and the progress count.
        self.channel: int | None = None
        self.speaker = ""
        self.offset = 0.0

    def run(self) -> None:
        started = time.monotonic()
        # From an object store the recording is fetched into this worker's temporary folder,
        # and removed as soon as it is decoded.
        with self.call.recording_on_disk() as path:
            channels = audio.decode(path, mono=False, max_seconds=settings.MAX_AUDIO_HOURS * 3600)
        duration = channels.shape[1] / SAMPLE_RATE
        if duration < 0.1:
            raise TranscriptionError(audio.UNREADABLE)
        tracks = self.split_speakers(channels)
        del channels

        # An earlier run died: keep the windows it finished, drop the segments of the window it
        # was in, and carry on from there (see Call.resume_at). The channels of a dual-channel
        # call are transcribed one after the other, so resume_at and the progress count the
        # seconds of both: the first channel's, then the second's.
        resume_from = self.forget_unfinished_window(tracks, duration)
        last = self.call.segments.aggregate(index=Max("index"))["index"]
        self.next_index = last + 1 if last is not None else 0

        engine = load_engine(services.engine_spec())
        options = services.decode_options(self.call.team)
        with_database_retry(
            lambda: self.call.record_engine(
                self.worker, engine.describe(), engine.effective_options(options).as_dict()
            )
        )
        if not with_database_retry(
            lambda: self.call.start_transcribing(
                self.worker, duration=duration, resumed_from=resume_from / len(tracks)
            )
        ):
            raise LeaseLost
        # Seconds of audio to transcribe: the call's length once per channel transcribed.
        self.work_seconds = duration * len(tracks)
        for number, (channel, samples) in enumerate(tracks):
            self.offset = number * duration
            self.channel = channel
            self.speaker = self.call.speaker_for_channel(channel)
            for segment in transcribe_long(
                engine,
                samples,
                options,
                start=min(max(0.0, resume_from - self.offset), duration),
                window_seconds=settings.WHISPER_WINDOW_SECONDS or None,
                on_progress=self.on_progress,
                on_window_done=self.window_done,
                on_heard=self.heard,
            ):
                with_database_retry(lambda segment=segment: self.save_segment(segment))

        with_database_retry(
            lambda: self.call._update(self.call.holds_lease(self.worker), stage=Call.Stage.SAVING)
        )
        with_database_retry(self.save_transcript)
        seconds = time.monotonic() - started
        if not with_database_retry(
            lambda: self.call.finish(self.worker, processing_seconds=seconds)
        ):
            raise LeaseLost

    def split_speakers(self, channels: np.ndarray) -> list[tuple[int | None, np.ndarray]]:
        """What to transcribe: each channel alone when the rep and the customer are on their
        own channels (with the channel it is), else the recording as one voice (None)."""
        report = speakers.detect_layout(channels, SAMPLE_RATE)
        rep_channel = self.call.rep_channel
        if report.is_dual and rep_channel is None:
            rep_channel = self.call.team.rep_channel
        if not with_database_retry(
            lambda: self.call.record_channels(
                self.worker, layout=report.layout, rep_channel=rep_channel
            )
        ):
            raise LeaseLost
        if report.is_dual:
            speakers.mute_crosstalk(channels, SAMPLE_RATE)
            return [(0, channels[0]), (1, channels[1])]
        return [(None, speakers.mixdown(channels))]

    def forget_unfinished_window(self, tracks: list, duration: float) -> float:
        """Delete the segments of the window an earlier run died in; where to resume."""
        dual = tracks[0][0] is not None
        # Segments from a run that heard the channels differently cannot be carried on from.
        if self.call.segments.filter(channel__isnull=dual).exists():
            self.call.segments.all().delete()
            self.call.forget_heard_after({})
            return 0.0
        resume_from = self.call.resume_at
        for number, (channel, _) in enumerate(tracks):
            self.call.segments.filter(
                channel=channel, end__gt=resume_from - number * duration
            ).delete()
        self.call.forget_heard_after(
            {channel: resume_from - number * duration for number, (channel, _) in enumerate(tracks)}
        )
        return resume_from

    def on_progress(self, seconds: float) -> None:
        # Engines may step back a little at a window seam; the bar never does.
        seconds += self.offset
        self.best_fraction = max(self.best_fraction, min(1.0, seconds / self.work_seconds))
        now = time.monotonic()
        if now - self.last_report < PROGRESS_INTERVAL_SECONDS:
            return
        self.last_report = now
        if not with_database_retry(
            lambda: self.call.report_progress(self.worker, self.best_fraction)
        ):
            raise LeaseLost

    def heard(self, speech: list, unheard: list) -> None:
        if not with_database_retry(
            lambda: self.call.record_heard(
                self.worker, channel=self.channel, speech=speech, unheard=unheard
            )
        ):
            raise LeaseLost

    def window_done(self, next_start: float) -> None:
        resume_at = self.offset + next_start
        if not with_database_retry(
            lambda: self.call._update(self.call.holds_lease(self.worker), resume_at=resume_at)
        ):
            raise LeaseLost

    @transaction.atomic
    def save_segment(self, segment) -> None:
        # Renewing the lease in the same transaction locks the call's row on PostgreSQL, so a
        # segment is never written for a call that was cancelled or handed to another worker.
        if not self.call.heartbeat(self.worker):
            raise LeaseLost
        Segment.objects.create(
            call=self.call,
            index=self.next_index,
            start=round(segment.start, 3),
            end=round(segment.end, 3),
            text=segment.text,
            channel=self.channel,
            speaker=self.speaker,
            avg_logprob=segment.avg_logprob,
            no_speech_prob=segment.no_speech_prob,
            compression_ratio=segment.compression_ratio,
            words=[
                {"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                for w in segment.words
            ],
        )
        self.next_index += 1

    @transaction.atomic
    def save_transcript(self) -> None:
        """Put the two channels' segments in time order and compute the analytics."""
        if not self.call.heartbeat(self.worker):
            raise LeaseLost
        self.call.put_segments_in_time_order()
        self.call.carry_over_edits()
        self.call.refresh_analytics()


def reap_stale_calls() -> int:
    """Put calls whose worker died (its lease expired) back in the queue, or fail them after
    too many attempts. Run every minute by a Django-Q2 schedule."""
    # The schedule runs inside a cluster's worker: its running shows the cluster is alive.
    ClusterHeartbeat.beat(f"{settings.Q_CLUSTER['name']}@{socket.gethostname()}")
    reaped = 0
    stale = Call.objects.filter(
        status=Call.Status.PROCESSING, lease_expires_at__lt=timezone.now()
    ).only("pk", "attempts", "lease_expires_at")
    for call in stale:
        expired = Call.objects.filter(
            pk=call.pk, status=Call.Status.PROCESSING, lease_expires_at__lt=timezone.now()
        )
        if call.attempts >= settings.MAX_TRANSCRIPTION_ATTEMPTS:
            if expired.update(
                status=Call.Status.FAILED,
                stage=Call.Stage.NONE,
                lease_owner="",
                lease_expires_at=None,
                finished_at=timezone.now(),
                error=(
                    f"Transcription stopped unexpectedly {call.attempts} times (the worker "
                    "was killed, perhaps for lack of memory). Try again, or contact your "
                    "administrator."
                ),
            ):
                reaped += 1
            continue
        with transaction.atomic():
            if expired.update(
                status=Call.Status.QUEUED,
                stage=Call.Stage.NONE,
                lease_owner="",
                lease_expires_at=None,
                queued_at=timezone.now(),
            ):
                services.call_enqueue(call)
                reaped += 1
    # A queued call whose task never reached the broker (it died between commit and enqueue)
    # is queued again; a duplicate task is harmless, since only one worker can claim the call.
    forgotten = Call.objects.filter(
        status=Call.Status.QUEUED, queued_at__lt=timezone.now() - timedelta(hours=1), task_id=""
    )
    for call in forgotten:
        services.call_enqueue(call)
        reaped += 1
    return reaped


def refresh_team_analytics(team_id: int) -> int:
    """Recompute the analytics of a team's finished calls that are older than its trackers.
    Queued by services.trackers_changed(); returns how many calls it recomputed."""
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    stale = team.calls.filter(status=Call.Status.DONE)
    if team.trackers_changed_at is not None:
        stale = stale.filter(
            Q(analytics_at__isnull=True) | Q(analytics_at__lt=team.trackers_changed_at)
        )
    else:
        stale = stale.filter(analytics_at__isnull=True)
    refreshed = 0
    # Newest first: those are the calls people are looking at.
    for call in stale.order_by("-created_at").iterator(chunk_size=100):
        call.team = team
        call.refresh_analytics()
        refreshed += 1
    return refreshed


def refresh_call_analytics(call_id: int, force: bool = False) -> bool:
    """Recompute one call's analytics if they are out of date (or `force`d, after a correction).
    Queued by pages and corrections; returns whether it recomputed them."""
    call = Call.objects.select_related("team").filter(pk=call_id).first()
    if call is None or call.status != Call.Status.DONE:
        return False
    if not (force or call.analytics_stale):
        return False
    call.refresh_analytics()
    return True
