"""Calls imported by URL: the worker streams the recording to disk with a size limit and a
timeout, and never reaches private, loopback or link-local addresses unless the allow-list
names them (server-side request forgery)."""

import ipaddress

import pytest
from django_q.models import OrmQ

from api import outbound, tasks
from api.models import UrlImport
from tests.api_helpers import LocalServer, bearer, reply, trickling
from transcripts.models import Call

CALLS = "/api/v1/calls/"


@pytest.fixture
def recording_server(speech_sample):
    content = speech_sample.read_bytes()

    def handle(handler, number):
        if handler.path == "/stream.mp3":
            # No Content-Length: the size is known only by reading it all.
            handler.send_response(200)
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(content)
            handler.close_connection = True
        else:
            reply(handler, 200, content, Content_Type="audio/mpeg")

    with LocalServer(handle) as server:
        yield server


def import_by_url(client, user, url: str, **fields) -> Call:
    response = client.post(
        CALLS, {"url": url, **fields}, content_type="application/json", **bearer(user)
    )
    assert response.status_code == 201, response.content
    assert response.json()["source_url"] == url
    assert response.json()["import_status"] == "downloading"
    return Call.objects.get(uuid=response.json()["id"])


def run_import(call: Call, capture) -> Call:
    with capture(execute=True):
        tasks.import_call_url(call.url_import.pk)
    call.refresh_from_db()
    return call


def test_it_downloads_a_recording_and_queues_the_call(
    client, alice, recording_server, settings, speech_sample, django_capture_on_commit_callbacks
):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with django_capture_on_commit_callbacks(execute=True):
        call = import_by_url(client, alice, recording_server.url("/calls/4711.mp3"))
    assert call.status == Call.Status.QUEUED and not call.audio
    assert OrmQ.objects.count() == 1  # the download, not yet the transcription

    call = run_import(call, django_capture_on_commit_callbacks)
    assert call.audio.read() == speech_sample.read_bytes()
    assert call.original_filename == "4711.mp3"
    assert call.duration == pytest.approx(29.7, abs=0.5)
    assert call.url_import.status == UrlImport.Status.DONE
    assert call.task_id  # queued for a worker to transcribe
    assert OrmQ.objects.count() == 2


def test_it_refuses_a_file_over_the_limit(
    client, alice, recording_server, settings, django_capture_on_commit_callbacks
):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.MAX_UPLOAD_BYTES = 100_000
    for path in ("/big.mp3", "/stream.mp3"):
        call = run_import(
            import_by_url(client, alice, recording_server.url(path)),
            django_capture_on_commit_callbacks,
        )
        assert call.status == Call.Status.FAILED
        assert "larger than the" in call.error
        assert not call.audio
        assert call.url_import.status == UrlImport.Status.FAILED


def test_it_refuses_a_loopback_address_that_is_not_allowed(
    client, alice, recording_server, django_capture_on_commit_callbacks
):
    call = run_import(
        import_by_url(client, alice, recording_server.url("/call.mp3")),
        django_capture_on_commit_callbacks,
    )
    assert call.status == Call.Status.FAILED
    assert "loopback" in call.error
    assert recording_server.received == []


def test_it_refuses_a_redirect_to_127_0_0_1(
    client, alice, recording_server, settings, django_capture_on_commit_callbacks
):
    # The dialer's server is at 127.0.0.2, which the allow-list names; 127.0.0.1 is not named.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    target = recording_server.url("/call.mp3")
    redirect = lambda handler, number: reply(handler, 302, Location=target)  # noqa: E731
    with LocalServer(redirect, host="127.0.0.2") as dialer:
        call = run_import(
            import_by_url(client, alice, dialer.url("/calls/4711.mp3")),
            django_capture_on_commit_callbacks,
        )
        assert len(dialer.received) == 1
    assert call.status == Call.Status.FAILED
    assert "127.0.0.1" in call.error and "refused" in call.error
    assert recording_server.received == []


def test_it_follows_a_redirect_to_an_allowed_address(
    client, alice, recording_server, settings, django_capture_on_commit_callbacks
):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32", "127.0.0.2/32"]
    target = recording_server.url("/call.mp3")
    redirect = lambda handler, number: reply(handler, 302, Location=target)  # noqa: E731
    with LocalServer(redirect, host="127.0.0.2") as dialer:
        call = run_import(
            import_by_url(client, alice, dialer.url("/calls/4711.mp3")),
            django_capture_on_commit_callbacks,
        )
    assert call.status == Call.Status.QUEUED and call.audio


def test_it_says_when_the_server_answers_an_error(
    client, alice, settings, django_capture_on_commit_callbacks
):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with LocalServer(lambda handler, number: reply(handler, 404)) as server:
        call = run_import(
            import_by_url(client, alice, server.url("/gone.mp3")),
            django_capture_on_commit_callbacks,
        )
    assert call.status == Call.Status.FAILED
    assert "HTTP 404" in call.error


@pytest.mark.parametrize(
    "head, body, message",
    [
        (b"", b"HTTP/1.0 200 OK\r\n" + b"X-Slow: yes\r\n" * 30, "did not answer within 1 s"),
        (b"HTTP/1.0 200 OK\r\n\r\n", b"ID3" * 100, "took longer than 1 s"),
    ],
    ids=["headers", "body"],
)
def test_a_server_trickling_bytes_is_cut_off_at_the_timeout(
    settings, tmp_path, head, body, message
):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    # Refused, saying why: never a part of the file taken for all of it, nor the headers
    # waited for however long they take (the trickle lasts 30 s).
    with (
        LocalServer(trickling(head, body)) as server,
        pytest.raises(outbound.OutboundError, match=message),
    ):
        outbound.download(server.url("/slow.mp3"), tmp_path / "file", max_bytes=10**6, timeout=1)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.mp3", "https://user:pw@example.com/a"]
)
def test_it_refuses_other_kinds_of_url_at_once(client, alice, url):
    response = client.post(CALLS, {"url": url}, content_type="application/json", **bearer(alice))
    assert response.status_code == 400
    assert not Call.objects.exists()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
        "fd00::1",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(address, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(outbound.OutboundError):
        outbound.checked_address(address, 80)


def test_a_name_resolving_to_loopback_is_refused(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(outbound.OutboundError, match="loopback"):
        outbound.checked_address("localhost", 80)


def test_public_addresses_pass_and_the_allow_list_opens_private_ones(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert outbound.checked_address("93.184.216.34", 443) == "93.184.216.34"
    assert outbound.checked_address("10.1.2.3", 80) == "10.1.2.3"
    assert ipaddress.ip_address("10.1.2.3") in outbound.allowed_networks()[0]


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch, settings):
    """A name that resolves to a public address when checked and to loopback afterwards (DNS
    rebinding) cannot reach loopback: the connection uses the checked address."""
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    answers = iter(["93.184.216.34", "127.0.0.1"])
    real = outbound.socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example":
            return real(next(answers), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    connected = []
    monkeypatch.setattr(outbound.socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(
        outbound.socket,
        "create_connection",
        lambda address, *args: connected.append(address) or (_ for _ in ()).throw(OSError("x")),
    )
    with pytest.raises(outbound.OutboundError):
        outbound.request("GET", "http://rebind.example/", timeout=1)
    assert connected == [("93.184.216.34", 80)]
