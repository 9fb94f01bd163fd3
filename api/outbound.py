"""Requests this server makes to URLs that people give it (recordings to import, webhooks),
without letting them reach the server's own network (server-side request forgery).

Every address a host name resolves to is checked; the connection then goes to the address that
was checked, not to a second lookup (DNS rebinding), and every redirect is checked again.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from django.conf import settings

REDIRECTS = (301, 302, 303, 307, 308)


class OutboundError(Exception):
    """A request refused or failed, with a message a person can act on."""


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(net, strict=False) for net in settings.OUTBOUND_ALLOWED_NETWORKS]


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def checked_address(host: str, port: int) -> str:
    """The address to connect to for `host`: every address it resolves to must be public,
    or in the OUTBOUND_ALLOWED_NETWORKS setting."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise OutboundError(f"The host {host} could not be found.") from error
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    allowed = allowed_networks()
    for address in addresses:
        if not is_public(address) and not any(address in network for network in allowed):
            raise OutboundError(
                f"{host} is a private, loopback or link-local address ({address}): refused."
            )
    return str(addresses[0])


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL, or OutboundError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError("Only http and https URLs can be fetched.")
    if parts.username or parts.password:
        raise OutboundError("URLs with a user name or password are not accepted.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise OutboundError("The URL's port is not a number.") from error
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        # The certificate is checked against the name, though the socket went to the address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _Deadline:
    """Cuts a connection off `seconds` after it starts, however the far end paces its bytes:
    the socket's timeout bounds each read, so a server sending a byte every few seconds would
    otherwise hold the worker until the task's own timeout killed it, mid-delivery."""

    def __init__(self, sock: socket.socket, seconds: float):
        self.expired = False
        self._sock = sock
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        self.expired = True
        try:
            # The plain socket's shutdown, under TLS too: SSLSocket's own would drop its TLS
            # state beneath a read running in another thread. The read then ends at once.
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
        except OSError:
            pass  # closed meanwhile

    def cancel(self) -> None:
        self._timer.cancel()


def _hang_up(connection: http.client.HTTPConnection, deadline: _Deadline | None) -> None:
    if deadline:
        deadline.cancel()
    connection.close()


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    raw: http.client.HTTPResponse
    connection: http.client.HTTPConnection
    url: str
    deadline: _Deadline | None = None

    @property
    def cut_off(self) -> bool:
        return bool(self.deadline and self.deadline.expired)

    def close(self) -> None:
        _hang_up(self.connection, self.deadline)


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float,
    max_redirects: int = 0,
    cut_off_after: float | None = None,
) -> Response:
    """Send one request (following up to `max_redirects` redirects, each checked); the caller
    reads and closes the response. `timeout` bounds each connect and read; `cut_off_after`,
    if given, the whole exchange from the connection until the response is closed."""
    for _ in range(max_redirects + 1):
        scheme, host, port, path = check_url(url)
        address = checked_address(host, port)
        kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        connection = kind(host, port, address, timeout)
        deadline = None
        try:
            connection.connect()
            if cut_off_after is not None:
                deadline = _Deadline(connection.sock, cut_off_after)
            connection.request(method, path, body=body, headers=headers or {})
            raw = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            _hang_up(connection, deadline)
            if deadline and deadline.expired:
                raise OutboundError(f"{host} did not answer within {cut_off_after:g} s.") from error
            if isinstance(error, TimeoutError | socket.timeout):
                raise OutboundError(f"{host} did not answer within {timeout:g} s.") from error
            raise OutboundError(f"Could not reach {host}: {error}") from error
        location = raw.getheader("Location")
        if raw.status in REDIRECTS and location and max_redirects:
            _hang_up(connection, deadline)
            url = urljoin(url, location)
            if raw.status == 303:
                method, body = "GET", None
            continue
        return Response(raw.status, raw.headers, raw, connection, url, deadline)
    raise OutboundError(f"Too many redirects (more than {max_redirects}).")


def download(url: str, target: Path, *, max_bytes: int, timeout: float) -> int:
    """Stream `url` to `target`; the number of bytes. Refuses a file over `max_bytes` and a
    download that takes longer than `timeout` seconds in all."""
    response = request(
        "GET",
        url,
        timeout=min(timeout, 30),
        max_redirects=settings.URL_IMPORT_MAX_REDIRECTS,
        cut_off_after=timeout,
    )
    try:
        if response.status != 200:
            raise OutboundError(f"The server answered HTTP {response.status} for {url}.")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise OutboundError(too_large(max_bytes))
        received = 0
        with target.open("wb") as out:
            for chunk in _chunks(response, timeout):
                received += len(chunk)
                if received > max_bytes:
                    raise OutboundError(too_large(max_bytes))
                out.write(chunk)
        return received
    finally:
        response.close()


def too_large(max_bytes: int) -> str:
    return f"The recording is larger than the {max_bytes / 1024 / 1024:g} MB upload limit."


def _chunks(response: Response, timeout: float) -> Iterator[bytes]:
    """The body as it comes, until the server ends it or the request's deadline cuts it off:
    a cut read ends as if the file had, or breaks off, and neither is the whole recording."""
    while True:
        try:
            chunk = response.raw.read1(64 * 1024)
        except (OSError, http.client.HTTPException) as error:
            if response.cut_off:
                raise OutboundError(f"The download took longer than {timeout:g} s.") from error
            raise OutboundError(f"The download broke off: {error}") from error
        if response.cut_off:
            raise OutboundError(f"The download took longer than {timeout:g} s.")
        if not chunk:
            return
        yield chunk
