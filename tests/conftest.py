"""Fixtures every test area shares: people and teams, recordings, and a worker's engine.

Alice manages the Acme team, Bob is a member of it, and Charlie is in another team (Globex):
Charlie must never see Acme's calls.
"""

from pathlib import Path

import pytest
from django.core.files import File

FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def speech_sample() -> Path:
    """About 30 s of espeak-ng speech, a sales rep's follow-up, as a 16 kHz mono MP3."""
    return FIXTURES / "sales_call.mp3"


@pytest.fixture(scope="session")
def speech_script() -> str:
    return (FIXTURES / "sales_call.txt").read_text()


@pytest.fixture(scope="session")
def two_minute_call(tmp_path_factory, speech_sample) -> Path:
    """The speech sample four times over: about two minutes of one voice."""
    import subprocess

    path = tmp_path_factory.mktemp("audio") / "discovery-call.mp3"
    inputs = [arg for _ in range(4) for arg in ("-i", str(speech_sample))]
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            "concat=n=4:v=0:a=1",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-b:a",
            "32k",
            str(path),
        ],
        check=True,
    )
    return path


@pytest.fixture(scope="session")
def two_voice_call(tmp_path_factory) -> tuple[Path, list]:
    """About a minute of a sales call in one channel, two espeak voices taking turns 0.2-0.6 s
    apart (the rep's manager speaks in the rep's voice), as a 16 kHz WAV, and its turns
    (bench.corpus.Turn: voice, start, end)."""
    from bench import corpus

    voices = {
        "rep": corpus.Voice("en-us+m3", 170, 45),
        "prospect": corpus.Voice("en-gb+f3", 160, 60),
    }
    plan = corpus.CallPlan(
        seconds=60, seed=1207, cast={**voices, "manager": voices["rep"]}, dense_pauses=(0.2, 0.6)
    )
    folder = tmp_path_factory.mktemp("two-voices")
    samples, turns = corpus.synthesize(plan, folder)
    path = folder / "two-voice-call.wav"
    corpus.write_wav(path, samples)
    return path, turns


@pytest.fixture(autouse=True)
def test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Tasks run inside the test process here: it keeps its priority.
    settings.WORKER_NICENESS = 0
    # A deliberately slow password hash costs ~0.15 s a user; tests need no protection.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Login throttling has tests of its own; elsewhere it would only count failed logins.
    settings.AXES_ENABLED = False
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 0
    # Static files from the source folders: tests need no collectstatic run.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def acme(db):
    from transcripts.models import Team

    return Team.objects.create(name="Acme Sales", slug="acme")


@pytest.fixture
def globex(db):
    from transcripts.models import Team

    return Team.objects.create(name="Globex", slug="globex")


def make_user(username: str, team=None, role: str = "member", **extra):
    from django.contrib.auth import get_user_model

    from transcripts.models import Membership

    user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
    if team is not None:
        Membership.objects.create(user=user, team=team, role=role)
    return user


@pytest.fixture
def alice(acme):
    return make_user("alice", acme, role="manager")


@pytest.fixture
def bob(acme):
    return make_user("bob", acme)


@pytest.fixture
def charlie(globex):
    return make_user("charlie", globex)


@pytest.fixture
def staff(db):
    return make_user("olivia", None, is_staff=True, is_superuser=True)


@pytest.fixture
def client_for(client):
    def log_in(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return log_in


@pytest.fixture
def make_call(speech_sample):
    """A call of `team` holding `path` (the speech sample by default), without any checks."""
    from transcripts.models import Call

    def make(team, user=None, path: Path | None = None, title: str = "", **fields):
        from transcripts.services import default_rep

        path = path or speech_sample
        # As an upload does: the uploader leads the call, if in its team.
        fields.setdefault("rep", default_rep(team, user))
        call = Call(team=team, uploaded_by=user, title=title, original_filename=path.name, **fields)
        with path.open("rb") as handle:
            call.audio.save(path.name, File(handle), save=False)
        call.size_bytes = call.audio.size
        call.save()
        return call

    return make


# A short discovery call as a dual-channel transcript: (channel, start, end, text). The rep is on
# the left channel (0), the customer on the right; the customer cuts in at 19.5 s.
DUAL_CALL_LINES = [
    (0, 0.5, 3.0, "Hi Sarah, thanks for taking my call."),
    (1, 3.5, 5.0, "Sure, happy to talk."),
    (0, 5.5, 9.0, "What does your team use for call notes today?"),
    (1, 9.5, 14.0, "We type them by hand, and the pricing of other tools is too high."),
    (0, 14.5, 20.0, "Our plan costs forty dollars per user, with a discount for a contract."),
    (1, 19.5, 23.0, "Could you send over a proposal?"),
    (0, 23.5, 28.0, "Yes, I will schedule a demo as the next step."),
]


@pytest.fixture
def make_dual_call(make_call):
    """A transcribed dual-channel call of `team`, its analytics computed, without Whisper."""
    from transcripts.models import Call

    def make(team, user=None, title: str = "Discovery call with Initech", lines=None, **fields):
        call = make_call(
            team,
            user,
            title=title,
            status=Call.Status.DONE,
            duration=30.0,
            channel_layout="dual",
            rep_channel=team.rep_channel,
            **fields,
        )
        for index, (channel, start, end, text) in enumerate(lines or DUAL_CALL_LINES):
            call.segments.create(
                index=index,
                start=start,
                end=end,
                text=text,
                channel=channel,
                speaker=call.speaker_for_channel(channel),
            )
        call.refresh_analytics()
        return call

    return make


@pytest.fixture
def dual_call(acme, alice, make_dual_call):
    """Alice's discovery call with Sarah, in Acme."""
    return make_dual_call(acme, alice)


@pytest.fixture
def make_voiced_call(make_call):
    """A transcribed mono call of `team` whose speakers were told apart by voice, as
    diarization leaves it (the lines of DUAL_CALL_LINES, voice 0 the rep's, voice 1 the
    customer's; VAD's heard speech and the turns on the mixed channel), without a worker."""
    from transcripts.models import Call

    def make(team, user=None, title: str = "Discovery call on Zoom", lines=None, **fields):
        lines = lines or DUAL_CALL_LINES
        fields = {"voice_count": 2, "rep_voice": 0, **fields}
        call = make_call(
            team,
            user,
            title=title,
            status=Call.Status.DONE,
            duration=30.0,
            channel_layout="mono",
            voice_turns=[[start, end, voice] for voice, start, end, _ in lines],
            heard_speech=[[start + 0.1, end - 0.1, None] for _, start, end, _ in lines],
            **fields,
        )
        for index, (voice, start, end, text) in enumerate(lines):
            call.segments.create(
                index=index,
                start=start,
                end=end,
                text=text,
                voice=voice,
                machine_voice=voice,
                speaker=call.speaker_for_voice(voice),
            )
        call.refresh_analytics()
        return call

    return make


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A real S3-compatible server (SeaweedFS) for the session, with signed access only."""
    from tests.objectstore import SeaweedFS, SeaweedFSError

    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start()
    except SeaweedFSError as error:
        # Never a skip: these tests are the only proof that object storage works.
        pytest.fail(f"The objectstorage tests need SeaweedFS, which did not start: {error}")
    yield server
    server.stop()


@pytest.fixture
def s3_recordings(seaweedfs, settings):
    """Recordings in SeaweedFS, under a prefix of this test's own; `env` configures processes."""
    import uuid
    from types import SimpleNamespace

    prefix = f"tests/{uuid.uuid4().hex}"
    options = seaweedfs.storage_options(prefix)
    s3 = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    settings.RECORDINGS_STORAGE = "s3"
    settings.S3_STORAGE_OPTIONS = options
    settings.RECORDINGS_BACKENDS = {**settings.RECORDINGS_BACKENDS, "s3": s3}
    settings.STORAGES = {**settings.STORAGES, "default": s3}
    return SimpleNamespace(
        server=seaweedfs,
        prefix=prefix,
        env=seaweedfs.environment(prefix),
        keys=lambda: seaweedfs.keys(prefix + "/"),
    )
