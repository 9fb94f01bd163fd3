"""What the Django-Q2 workers run. Nothing here runs in a web request."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from . import quality, recordings, services, transcription
from .models import Call, ClusterHeartbeat, Segment, Team, VoiceEnrolment, VoicePrint
from .speech.base import TranscriptionError
from .speech.engines import load_engine
from .speech.pipeline import Position, Recording, load_recording, transcribe_recording

logger = logging.getLogger(__name__)

# Progress is written at most this often: enough for a live bar, little load on the database.
PROGRESS_INTERVAL_SECONDS = 1.0
UNEXPECTED_FAILURE = (
    "Something went wrong while transcribing this call. It has been logged; "
    "try again, and if it fails again, contact your administrator."
)
DIARIZATION_FAILURE = (
    "finding who speaks when failed (it has been logged). The transcript is complete; "
    "transcribe the call again to try once more."
)

# A step that reports no progress (a model load, the second pass) keeps the lease from a thread
# for this long at most (CallTranscription.keeping_lease).
MAX_SILENT_STEP_SECONDS = 600

# The reaper is scheduled every minute; a busy worker runs it when it is this late.
REAPER_OVERDUE_SECONDS = 90

# A call queued this long with no task for it in the broker is queued again (reap_stale_calls):
# far more than enqueueing takes, far less than a person waits before giving up on a call.
FORGOTTEN_AFTER = timedelta(minutes=10)

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
    # Read again, not refreshed: someone may have deleted the call at the last moment.
    return Call.objects.filter(pk=call.pk).values_list("status", flat=True).first() or "deleted"


class CallTranscription:
    """One worker's run over one call: the pipeline (transcripts.speech.pipeline) does the
    work; this holds the lease, saves each segment as it comes and a checkpoint per window."""

    def __init__(self, call: Call, worker: str):
        self.call = call
        self.worker = worker
        self.last_report = 0.0

    def run(self) -> None:
        started = time.monotonic()
        with self.load() as recording:
            self.transcribe(recording)
            # The transcription track is released by now: one track of samples at a time.
            if recording.is_dual:
                self.teach_rep_voice(recording)
            else:
                self.find_speakers(recording)
        self.save(started)

    def load(self) -> Recording:
        """Decode the recording (in a child process bounded in time and memory; a cancel stops
        it too) and record its channel layout. Close what it returns."""
        # From an object store the recording is fetched into this worker's temporary folder,
        # and removed as soon as it is decoded.
        with self.call.recording_on_disk() as path:
            recording = load_recording(
                path,
                max_seconds=transcription.max_audio_seconds(),
                limits=transcription.decode_limits(),
                while_decoding=self.still_held,
            )
        try:
            rep_channel = self.call.rep_channel
            if recording.is_dual and rep_channel is None:
                rep_channel = self.call.team.rep_channel
            if not with_database_retry(
                lambda: self.call.record_channels(
                    self.worker, layout=recording.report.layout, rep_channel=rep_channel
                )
            ):
                raise LeaseLost
            self.speakers = {
                track.channel: self.call.speaker_for_channel(track.channel)
                for track in recording.tracks
            }
        except BaseException:
            recording.close()
            raise
        return recording

    @contextlib.contextmanager
    def keeping_lease(self) -> Iterator[None]:
        """Renew the lease from a thread while a step that reports no progress runs: loading a
        model (the speaker encoder with torch's import) or the second pass decoding a clip with
        the accurate model can outlast a lease. Bounded: a step that never ends still loses the
        call."""
        done = threading.Event()
        interval = max(0.5, settings.CALL_LEASE_SECONDS / 4)

        def renew() -> None:
            try:
                deadline = time.monotonic() + MAX_SILENT_STEP_SECONDS
                while not done.wait(interval) and time.monotonic() < deadline:
                    if not with_database_retry(lambda: self.call.heartbeat(self.worker)):
                        return  # taken away: the run notices at its next report
            finally:
                connection.close()  # this thread's own connection

        beat = threading.Thread(target=renew, name="lease", daemon=True)
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join()

    def still_held(self) -> None:
        """Renew the lease while decoding, so the reaper leaves the call alone; a lost lease
        (a cancel) stops the decoding. A busy worker also runs an overdue reaper."""
        if not with_database_retry(lambda: self.call.heartbeat(self.worker)):
            raise LeaseLost
        with_database_retry(reap_if_overdue)

    def transcribe(self, recording: Recording) -> None:
        # An earlier run died: keep what it saved up to its last checkpoint and carry on from
        # there (see Call.checkpoint).
        with_database_retry(lambda: self.call.forget_unfinished_window(dual=recording.is_dual))
        if self.call.transcribed_all(len(recording.tracks)):
            # It died after the transcript was saved: what comes after goes on from it.
            return
        self.next_index = self.call.resume_segments
        resume_at = Position(self.call.resume_track, self.call.resume_at)

        reason = quality.unavailable_reason(self.call.quality)
        if reason:
            raise TranscriptionError(reason)
        spec = transcription.engine_spec(model=quality.model_for(self.call.quality))
        with self.keeping_lease():
            engine = load_engine(spec)  # seconds, the first time in this process
        # A mono call's speakers are found word by word: a line two people share is split
        # where the voice changes, which needs each word's time.
        options = transcription.decode_options(
            self.call.team, **({} if recording.is_dual else {"word_timestamps": True})
        )
        second_pass = transcription.second_pass(spec)
        if second_pass is not None:
            second_pass.while_busy = self.keeping_lease
        recorded = engine.effective_options(options).as_dict()
        if second_pass is not None:
            recorded["second_pass"] = second_pass.describe()
        with_database_retry(
            lambda: self.call.record_engine(self.worker, engine.describe(), recorded)
        )
        if not with_database_retry(
            lambda: self.call.start_transcribing(
                self.worker,
                duration=recording.duration,
                resumed_from=recording.fraction(resume_at) * recording.duration,
            )
        ):
            raise LeaseLost
        for channel, segment in transcribe_recording(
            recording,
            engine,
            options,
            resume_at=resume_at,
            window_seconds=transcription.window_seconds(),
            on_progress=self.on_progress,
            on_window_done=self.window_done,
            on_heard=self.heard,
            second_pass=second_pass,
        ):
            with_database_retry(functools.partial(self.save_segment, channel, segment))

    def find_speakers(self, recording: Recording) -> None:
        """Tell the voices of a mono call apart ("Finding speakers"), name the rep's by their
        voice print, and split the lines where the voice changes.

        A failure here keeps the transcript: the call finishes without speakers, with a note.
        """
        if self.call.has_voices:
            return  # done by a run that died before it finished the call
        if not with_database_retry(lambda: self.call.start_diarizing(self.worker)):
            raise LeaseLost
        self.last_report = 0.0
        segments = [s.as_speech() for s in self.call.segments.order_by("index")]
        if not segments:
            return  # nothing said: nobody to name
        try:
            from .speech import diarization
            from .speech.pipeline import diarize_track

            # Kept from a thread throughout, not by progress alone: after the last window is
            # embedded, the clustering and each window's pitch report nothing (about 150 s on
            # a four-hour call), longer than a lease.
            with self.keeping_lease():
                diarization.load_encoder()
                found, lines = diarize_track(
                    recording,
                    segments,
                    speakers=self.call.speakers_expected,
                    on_progress=self.on_progress,
                    # Where the engine's voice-activity detection heard speech, if it has one.
                    speech=[(a, b) for a, b, _ in self.call.heard_speech] or None,
                    # This worker's share of the cores, as the engine takes it.
                    threads=transcription.engine_spec().resolved_threads(),
                )
            rep_voice, similarity = self.recognise_rep(found)
        except (LeaseLost, OperationalError, InterfaceError):
            raise
        except Exception:
            logger.exception("Finding the speakers of call %s failed", self.call.pk)
            if not with_database_retry(
                lambda: self.call.diarization_failed(self.worker, DIARIZATION_FAILURE)
            ):
                raise LeaseLost from None
            return
        turns = [[round(t.start, 3), round(t.end, 3), t.voice] for t in found.turns]
        if not with_database_retry(
            lambda: self.call.attribute_voices(
                self.worker,
                lines=lines,
                voices=found.voices,
                turns=turns,
                rep_voice=rep_voice,
                rep_similarity={str(v): round(float(s), 4) for v, s in similarity.items()},
            )
        ):
            raise LeaseLost

    def recognise_rep(self, found) -> tuple[int | None, dict[int, float]]:
        """The voice of the call's rep, if their voice print is close enough to one and no
        teammate's print is closer to it."""
        from .speech import diarization

        voice_print = VoicePrint.objects.filter(user_id=self.call.rep_id).first()
        if self.call.rep_id is None or voice_print is None or not voice_print.vector:
            return None, {}
        team = VoicePrint.objects.filter(user__memberships__team_id=self.call.team_id)
        teammates = team.exclude(user_id=self.call.rep_id)
        return diarization.recognise(
            found,
            voice_print.as_array,
            pitch=voice_print.pitch,
            teammates=[p.as_array for p in teammates if p.vector],
        )

    def teach_rep_voice(self, recording: Recording) -> None:
        """Learn the rep's voice print from their channel of a dual-channel call, while the
        recording is decoded. A failure costs the print a lesson, never the call."""
        rep_channel = self.call.rep_channel
        if self.call.rep_id is None or self.call.voice_print_seconds is not None:
            return  # nobody to teach, or this call taught them already
        track = next((t for t in recording.tracks if t.channel == rep_channel), None)
        if track is None:
            return
        try:
            from .speech import diarization

            spans = self.call.speech_on_channel(rep_channel)
            samples = track.load()
            # The rep's whole channel is read with no progress to report (about two minutes
            # for four hours of it): longer than a lease.
            with self.keeping_lease():
                learned = diarization.voice_print(samples, spans)
                pitch = diarization.speech_pitch(samples, spans) if learned else None
        except Exception:
            logger.exception("Learning a voice print from call %s failed", self.call.pk)
            return
        if learned is None:
            return  # too little of the rep's speech to learn from
        vector, seconds = learned
        if not with_database_retry(
            lambda: self.call.teach_rep_voice(self.worker, vector, seconds, pitch)
        ):
            raise LeaseLost

    def save(self, started: float) -> None:
        if not with_database_retry(lambda: self.call.start_saving(self.worker)):
            raise LeaseLost
        with_database_retry(self.save_transcript)
        seconds = time.monotonic() - started
        if not with_database_retry(
            lambda: self.call.finish(self.worker, processing_seconds=seconds)
        ):
            raise LeaseLost

    def on_progress(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last_report < PROGRESS_INTERVAL_SECONDS:
            return
        self.last_report = now
        if not with_database_retry(lambda: self.call.report_progress(self.worker, fraction)):
            raise LeaseLost

    def heard(self, channel: int | None, speech: list, unheard: list) -> None:
        # Recorded before the window's checkpoint: a run that dies in between forgets them with
        # the window's segments (Call.forget_unfinished_window), by where they start.
        if not with_database_retry(
            lambda: self.call.record_heard(
                self.worker, channel=channel, speech=speech, unheard=unheard
            )
        ):
            raise LeaseLost

    def window_done(self, position: Position) -> None:
        # Every segment of the window is saved by now: the pipeline reports a window only
        # after the segments it yielded for it were taken (and saved) one by one.
        if not with_database_retry(
            lambda: self.call.checkpoint(
                self.worker,
                track=position.track,
                seconds=position.seconds,
                segments=self.next_index,
            )
        ):
            raise LeaseLost
        with_database_retry(reap_if_overdue)

    @transaction.atomic
    def save_segment(self, channel: int | None, segment) -> None:
        # Renewing the lease in the same transaction locks the call's row on PostgreSQL, so a
        # segment is never written for a call that was cancelled or handed to another worker.
        if not self.call.heartbeat(self.worker):
            raise LeaseLost
        Segment.from_speech(
            self.call, self.next_index, segment, channel=channel, speaker=self.speakers[channel]
        ).save()
        self.next_index += 1

    @transaction.atomic
    def save_transcript(self) -> None:
        """Put the two channels' segments in time order and compute the analytics."""
        if not self.call.heartbeat(self.worker):
            raise LeaseLost
        self.call.put_segments_in_time_order()
        self.call.carry_over_edits()
        self.call.refresh_analytics()


ENROLMENT_FAILURE = (
    "Something went wrong while reading your recording. It has been logged; try again, and if "
    "it fails again, contact your administrator."
)


def enrol_voice(enrolment_id: int) -> str:
    """Learn a person's voice print from the recording they made of themselves, then delete the
    recording, whatever came of it. Queued by services.voice_enrolment_create."""
    enrolment = VoiceEnrolment.objects.select_related("user").filter(pk=enrolment_id).first()
    if enrolment is None or enrolment.is_finished:
        return "gone"
    try:
        learned = voice_print_of_sample(enrolment)
    except TranscriptionError as error:
        enrolment.fail(str(error))
        return "failed"
    except Exception:
        logger.exception("Reading voice enrolment %s failed", enrolment.pk)
        enrolment.fail(ENROLMENT_FAILURE)
        return "failed"
    if learned is None or learned[1] < VoiceEnrolment.MIN_SPEECH_SECONDS:
        heard = f"only {learned[1]:.0f} seconds" if learned else "too little"
        enrolment.fail(
            f"We heard {heard} of speech in this recording: record yourself talking for at "
            f"least {VoiceEnrolment.MIN_SPEECH_SECONDS:.0f} seconds, somewhere quiet."
        )
        return "failed"
    vector, seconds, pitch = learned
    with transaction.atomic():
        VoicePrint.learn(enrolment.user, vector, seconds, from_call=False, pitch=pitch)
        enrolment.learned(seconds)
    return "done"


def voice_print_of_sample(enrolment: VoiceEnrolment):
    """(vector, seconds of speech, median pitch) of an enrolment recording, or None (too little
    speech for a print): decoded like a call's
    recording (a child process bounded in time and memory) and never longer than allowed."""
    from .speech import audio

    # A header may lie about the length: decoding stops a little past the limit.
    longest = VoiceEnrolment.MAX_SECONDS + 5
    too_long = TranscriptionError(
        f"This recording is longer than {VoiceEnrolment.MAX_SECONDS:.0f} seconds: "
        "a minute of you talking is enough."
    )
    try:
        with recordings.local_copy(enrolment.audio.storage, enrolment.audio.name) as path:
            decoded = audio.decode_recording(
                path, mono=True, max_seconds=longest, limits=transcription.decode_limits()
            )
    except TranscriptionError as error:
        if str(error) == str(audio._too_long(longest)):
            raise too_long from error
        raise
    with decoded:
        if decoded.seconds > VoiceEnrolment.MAX_SECONDS:
            raise too_long
        samples = decoded.channel(0)
    from .speech import diarization

    learned = diarization.voice_print(samples)
    return None if learned is None else (*learned, diarization.speech_pitch(samples))


def reap_if_overdue() -> None:
    """Run the reaper now if its schedule has not run for a while. Its scheduled task waits
    in the queue behind transcriptions, so when every worker is busy with a long call, the
    busy workers run it themselves (between windows, and while decoding)."""
    name = f"{settings.Q_CLUSTER['name']}@{socket.gethostname()}"
    overdue = timezone.now() - timedelta(seconds=REAPER_OVERDUE_SECONDS)
    if not ClusterHeartbeat.objects.filter(name=name, seen_at__gte=overdue).exists():
        reap_stale_calls()


def reap_stale_calls() -> int:
    """Put calls whose worker died (its lease expired) back in the queue, or fail them after
    too many attempts. Run every minute by a Django-Q2 schedule."""
    # The schedule runs inside a cluster's worker: its running shows the cluster is alive.
    ClusterHeartbeat.beat(f"{settings.Q_CLUSTER['name']}@{socket.gethostname()}")
    reaped = 0
    stale = Call.objects.filter(status=Call.Status.PROCESSING, lease_expires_at__lt=timezone.now())
    for call in stale:
        if call.attempts >= settings.MAX_TRANSCRIPTION_ATTEMPTS:
            reaped += call.fail_if_lease_expired(
                f"Transcription stopped unexpectedly {call.attempts} times (the worker was "
                "killed, perhaps for lack of memory). Try again, or contact your administrator."
            )
            continue
        with transaction.atomic():
            if call.requeue_if_lease_expired():
                services.call_enqueue(call)
                reaped += 1
    # A call queued a while with no task waiting for it in the broker is queued again. Its task
    # never got there (enqueueing failed after the commit), or is gone: a task that failed
    # before it claimed the call (the database away a moment) is acknowledged and deleted. A
    # duplicate task is harmless, since only one worker can claim the call.
    # The broker's payloads are read only when some call has waited that long, not every minute.
    forgotten = Call.objects.filter(
        status=Call.Status.QUEUED, queued_at__lt=timezone.now() - FORGOTTEN_AFTER
    )
    if forgotten.exists():
        for call in forgotten.exclude(pk__in=calls_waiting_in_broker()):
            services.call_enqueue(call)
            reaped += 1
    return reaped


def calls_waiting_in_broker() -> set[int]:
    """The calls a transcription task waits for in Django-Q2's queue (the ORM broker's table),
    whether a cluster has pulled it or not: a task leaves the table once it is done."""
    from django_q.models import OrmQ

    return {
        queued.args()[0]
        for queued in OrmQ.objects.iterator()
        if queued.func() == services.TRANSCRIBE_TASK and queued.args()
    }


def refresh_team_analytics(team_id: int) -> int:
    """Recompute the analytics of a team's finished calls that are older than its trackers.
    Queued by services.trackers_changed(); returns how many calls it recomputed."""
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    stale = team.calls.with_stale_analytics()
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
