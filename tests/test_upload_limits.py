"""A huge upload, against a real gunicorn: refused without the server's memory growing."""

import http.client

import pytest
from django.urls import reverse

from tests.workers import WebServer, peak_rss_mb, session_cookie_for
from transcripts.models import Call

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Django, gunicorn and the app settle at about 60-80 MB; anything read into memory would show.
MAX_GROWTH_MB = 20


@pytest.fixture
def server(tmp_path):
    running = WebServer(tmp_path / "gunicorn.log", MAX_UPLOAD_MB="50").start()
    yield running
    running.stop()


def stream_upload(server, cookies: dict, declared: int, send: int) -> tuple[int, str, int]:
    """POST a multipart body declared as `declared` bytes, sending at most `send` of them."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.putrequest("POST", reverse("transcripts:call_upload"))
    csrf = "a" * 32
    connection.putheader("Cookie", f"sessionid={cookies['sessionid']}; csrftoken={csrf}")
    connection.putheader("X-CSRFToken", csrf)
    connection.putheader("Content-Type", "multipart/form-data; boundary=xyz")
    connection.putheader("Content-Length", str(declared))
    connection.putheader("Accept", "text/html")
    connection.endheaders()
    sent = 0
    chunk = b"\0" * (1024 * 1024)
    try:
        connection.send(
            b'--xyz\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n'
        )
        while sent < send:
            connection.send(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed: it will not read the rest
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response.status, body, sent


def test_a_5_gb_upload_is_refused_without_reading_it(server, alice):
    (worker,) = server.worker_pids()
    before = peak_rss_mb(worker)
    status, body, sent = stream_upload(
        server, session_cookie_for(alice), declared=5 * 1024**3, send=200 * 1024 * 1024
    )
    growth = peak_rss_mb(worker) - before
    print(f"peak RSS before {before:.1f} MB, growth {growth:.1f} MB, client sent {sent >> 20} MB")
    assert status == 413
    assert "larger than the 50 MB upload limit" in body
    assert growth < MAX_GROWTH_MB
    assert not Call.objects.exists()


def test_an_upload_under_the_limit_still_works_on_the_same_server(server, alice, speech_sample):
    assert server.upload(session_cookie_for(alice), speech_sample.read_bytes()) == 302
    assert Call.objects.count() == 1
