"""Accounts and deployment: login throttling, production settings, security headers."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD
from transcripts import throttling

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


# --- Behind the TLS proxy: the client's address, not the proxy's ---------------------------

LOGIN = reverse("login")
# The address the proxy connects from, and two clients behind it.
PROXY, CLIENT, VICTIM = "127.0.0.1", "93.184.216.34", "151.101.1.69"


@pytest.fixture
def behind_proxy(settings):
    """What BEHIND_TLS_PROXY=1 sets (test_proxy_settings_follow_the_environment checks it)."""
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    settings.AXES_IPWARE_PROXY_COUNT = 0


def through_proxy(client, forwarded_for: str, password: str):
    """A login form as gunicorn receives it from the proxy: the proxy appended the address it
    saw to whatever X-Forwarded-For the client sent."""
    return client.post(
        LOGIN,
        {"username": "alice", "password": password},
        headers={"X-Forwarded-For": forwarded_for},
        REMOTE_ADDR=PROXY,
    )


def test_two_clients_behind_the_proxy_are_counted_separately(client, alice, behind_proxy):
    for _ in range(3):
        through_proxy(client, CLIENT, "guess")
    assert through_proxy(client, CLIENT, PASSWORD).status_code == 429
    assert through_proxy(client, VICTIM, PASSWORD).status_code == 302


def test_a_forged_forwarded_entry_cannot_lock_out_another_client(client, alice, behind_proxy):
    # The attacker claims to be the victim; the proxy appends the attacker's real address.
    for _ in range(5):
        through_proxy(client, f"{VICTIM}, {CLIENT}", "guess")
    assert through_proxy(client, VICTIM, PASSWORD).status_code == 302


def test_two_trusted_proxies_take_the_second_entry_from_the_right(client, alice, behind_proxy):
    from django.conf import settings

    settings.AXES_IPWARE_PROXY_COUNT = 1  # TRUSTED_PROXY_COUNT=2: a CDN, then the TLS proxy
    cdn = "104.16.0.1"
    for _ in range(3):
        through_proxy(client, f"{VICTIM}, {CLIENT}, {cdn}", "guess")
    assert through_proxy(client, f"{CLIENT}, {cdn}", PASSWORD).status_code == 429
    assert through_proxy(client, f"{VICTIM}, {cdn}", PASSWORD).status_code == 302


def test_without_the_proxy_setting_the_header_is_not_trusted(client, alice, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    for forged in ("1.1.1.1", "8.8.8.8", "9.9.9.9"):
        through_proxy(client, forged, "guess")
    # All three came from one address, whatever they claimed.
    assert through_proxy(client, VICTIM, PASSWORD).status_code == 429


def test_proxy_settings_follow_the_environment(tmp_path):
    show = (
        "from django.conf import settings as s; "
        "print(s.AXES_IPWARE_META_PRECEDENCE_ORDER, s.AXES_IPWARE_PROXY_COUNT, s.IPWARE_STRICT)"
    )
    env = {**os.environ, "DATA_DIR": str(tmp_path), "BEHIND_TLS_PROXY": "1"}
    shown = [
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", show],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[-1]
        for extra in ({}, {"TRUSTED_PROXY_COUNT": "2"})
    ]
    assert shown == [
        "('HTTP_X_FORWARDED_FOR', 'REMOTE_ADDR') 0 False",
        "('HTTP_X_FORWARDED_FOR', 'REMOTE_ADDR') 1 False",
    ]


# --- The login form's rate limit per address ------------------------------------------------


@pytest.fixture
def rate_limit(settings, monkeypatch):
    """Three login forms a minute, and a clock that stays in one minute until told."""
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 3
    minute = {"now": 29_000_000}
    monkeypatch.setattr(throttling, "current_minute", lambda: minute["now"])
    return minute


def test_an_address_sending_too_many_login_forms_gets_a_readable_429(client, alice, rate_limit):
    for _ in range(3):
        assert through_proxy(client, CLIENT, "guess").status_code == 200
    response = through_proxy(client, CLIENT, PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    page = response.content.decode()
    assert "Too many login attempts" in page and "<html" in page
    assert "_auth_user_id" not in client.session


def test_the_rate_limit_counts_each_address_and_each_minute(
    client, alice, rate_limit, behind_proxy, settings
):
    settings.AXES_FAILURE_LIMIT = 100  # only the rate limit answers here
    for _ in range(3):
        through_proxy(client, CLIENT, "guess")
    refused = through_proxy(client, CLIENT, "guess")
    assert refused.status_code == 429
    assert "Too many login attempts" in refused.content.decode()
    assert through_proxy(client, VICTIM, PASSWORD).status_code == 302
    rate_limit["now"] += 1
    client.logout()
    assert through_proxy(client, CLIENT, "guess").status_code == 200


def test_migrate_makes_the_table_of_the_shared_cache(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    use = (
        "from django.core.cache import caches; "
        "caches['shared'].set('k', 7); print(caches['shared'].get('k'))"
    )
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", use],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.splitlines()[-1] == "7"


def test_the_rate_limit_leaves_the_login_page_alone(client, db, rate_limit):
    for _ in range(5):
        assert client.get(LOGIN).status_code == 200


# --- Deployment -----------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", [{}, {"BEHIND_TLS_PROXY": "1"}])
def test_production_settings_pass_the_deploy_check(tmp_path, proxy):
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "calls.example.com",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "DATA_DIR": str(tmp_path),
        **proxy,
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
