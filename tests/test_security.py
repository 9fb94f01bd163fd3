"""Accounts and deployment: login throttling, production settings, security headers."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.urls import reverse

from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def test_repeated_wrong_passwords_lock_the_login(client, alice, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post(reverse("login"), {"username": "alice", "password": "guess"})
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_correct_password_still_works_before_the_limit(client, alice, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    client.post(reverse("login"), {"username": "alice", "password": "guess"})
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302


def test_production_settings_pass_the_deploy_check(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "calls.example.com",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "DATA_DIR": str(tmp_path),
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    # --fail-level WARNING: any warning of the deployment checks fails the command.
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_a_secret_key_a_random_one_is_made_once_and_kept(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path), "SECRET_KEY": ""}
    show = "from django.conf import settings; print(settings.SECRET_KEY)"
    keys = [
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", show],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert keys[0] == keys[1]
    assert len(keys[0]) >= 60
    assert (tmp_path / "secret-key").stat().st_mode & 0o077 == 0


def test_pages_carry_security_headers(client_for, alice):
    response = client_for(alice).get(reverse("transcripts:call_list"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_cookies_are_secure_unless_debugging():
    from django.conf import settings

    assert settings.SESSION_COOKIE_SECURE == (not settings.DEBUG)
    assert settings.CSRF_COOKIE_SECURE == settings.SESSION_COOKIE_SECURE
    assert settings.SESSION_COOKIE_HTTPONLY
