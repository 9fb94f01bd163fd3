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


@pytest.fixture(autouse=True)
def test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # A deliberately slow password hash costs ~0.15 s a user; tests need no protection.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Login throttling has tests of its own; elsewhere it would only count failed logins.
    settings.AXES_ENABLED = False
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
        path = path or speech_sample
        call = Call(team=team, uploaded_by=user, title=title, original_filename=path.name, **fields)
        with path.open("rb") as handle:
            call.audio.save(path.name, File(handle), save=False)
        call.size_bytes = call.audio.size
        call.save()
        return call

    return make
