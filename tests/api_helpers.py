"""What the API's tests share: tokens, and small HTTP servers on loopback to fetch from or
to receive webhooks."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from api.models import ApiToken


def bearer(user, name: str = "test") -> dict[str, str]:
    """Headers for the test client that authenticate as `user` with a new token."""
    _token, secret = ApiToken.issue(user, name)
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


class LocalServer:
    """A threaded HTTP server on 127.0.0.1; `handle(handler)` answers each request and the
    requests it got are kept in `received` as (method, path, headers, body)."""

    def __init__(
        self, handle: Callable[[BaseHTTPRequestHandler, int], None], host: str = "127.0.0.1"
    ):
        self.received: list[tuple[str, str, dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

            def _answer(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.received.append((method, self.path, dict(self.headers), body))
                handle(self, len(server.received))

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.host = host
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def reply(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", **headers) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def trickling(head: bytes, body: bytes):
    """A server that sends `head` at once, then `body` a byte every 0.1 s, with no length:
    only the end of the connection would say where the file ends."""

    def handle(handler, number):
        with contextlib.suppress(OSError):  # the client has hung up
            handler.wfile.write(head)
            for byte in body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.1)
        handler.close_connection = True

    return handle
