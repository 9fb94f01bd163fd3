"""A local stand-in for OpenAI's `POST /v1/audio/transcriptions`, for tests: never the real one.

It parses the multipart request the way the real endpoint must, decodes the uploaded audio with
PyAV to learn its length, and answers verbose JSON made from that length: one segment per
`segment_seconds`, each with two words, text naming the request and the part. Tests can queue
error answers to come first, and read back every request it received.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av


@dataclass
class ReceivedRequest:
    path: str
    authorization: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    filename: str = ""
    file_content_type: str = ""
    file: bytes = b""
    # The uploaded audio's length as PyAV decodes it; None when it could not be decoded.
    duration: float | None = None

    def field(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


def parse_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/form-data body as (disposition parameters, content).

    Strict about the framing (RFC 7578): a malformed body raises ValueError.
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or not match:
        raise ValueError(f"not multipart/form-data: {content_type!r}")
    delimiter = b"--" + match.group(1).encode()
    chunks = body.split(delimiter)
    if chunks[0] != b"" or chunks[-1] not in (b"--\r\n", b"--"):
        raise ValueError("body does not start and end with the boundary")
    parts = []
    for chunk in chunks[1:-1]:
        if not (chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")):
            raise ValueError("a part is not framed by CRLF")
        head, separator, content = chunk[2:-2].partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("a part has no blank line after its headers")
        headers = {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        params = dict(re.findall(r'(\w+)="([^"]*)"', disposition))
        params["content-type"] = headers.get("content-type", "")
        parts.append((params, content))
    return parts


def decoded_duration(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


class FakeTranscriptionAPI:
    """Serves on 127.0.0.1 at a free port while used as a context manager."""

    def __init__(self, api_key: str = "sk-test-key", segment_seconds: float = 10.0):
        self.api_key = api_key
        self.segment_seconds = segment_seconds
        self.requests: list[ReceivedRequest] = []
        self._queued: deque[tuple[int, dict, dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def answer_next(
        self, status: int, body: dict | None = None, *, times: int = 1, headers: dict | None = None
    ) -> None:
        """Answer the next `times` requests with this status, before answering normally again."""
        body = body if body is not None else {"error": {"message": f"HTTP {status} for a test"}}
        with self._lock:
            for _ in range(times):
                self._queued.append((status, body, headers or {}))

    def __enter__(self) -> FakeTranscriptionAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server looks up
                api._handle(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        received = ReceivedRequest(
            path=handler.path, authorization=handler.headers.get("Authorization", "")
        )
        with self._lock:
            self.requests.append(received)
            number = len(self.requests)
        if handler.path != "/v1/audio/transcriptions":
            return self._send(handler, 404, {"error": {"message": "Invalid URL"}})
        if received.authorization != f"Bearer {self.api_key}":
            # The real API echoes part of the key it was given.
            given = received.authorization.removeprefix("Bearer ")
            message = f"Incorrect API key provided: {given[:3]}***{given[-2:]}."
            return self._send(
                handler, 401, {"error": {"message": message, "code": "invalid_api_key"}}
            )
        try:
            parts = parse_multipart(body, handler.headers.get("Content-Type", ""))
        except ValueError as error:
            return self._send(handler, 400, {"error": {"message": f"Malformed body: {error}"}})
        for params, content in parts:
            if "filename" in params:
                received.filename = params["filename"]
                received.file_content_type = params["content-type"]
                received.file = content
            else:
                received.fields.setdefault(params["name"], []).append(content.decode())
        try:
            received.duration = decoded_duration(received.file)
        except (av.FFmpegError, IndexError, ValueError):
            return self._send(handler, 400, {"error": {"message": "Invalid file format."}})
        with self._lock:
            queued = self._queued.popleft() if self._queued else None
        if queued:
            status, payload, headers = queued
            return self._send(handler, status, payload, headers)
        if received.field("model") != "whisper-1" or (
            received.field("response_format") != "verbose_json"
        ):
            return self._send(handler, 400, {"error": {"message": "Unexpected model or format"}})
        return self._send(handler, 200, self.verbose_json(number, received))

    def verbose_json(self, number: int, received: ReceivedRequest) -> dict:
        duration = received.duration or 0.0
        granularities = received.fields.get("timestamp_granularities[]", [])
        segments, words = [], []
        start, part = 0.0, 1
        while start < duration:
            end = min(start + self.segment_seconds, duration)
            segments.append(
                {
                    "id": part - 1,
                    "seek": 0,
                    "start": start,
                    "end": end,
                    "text": f" Request {number} part {part}.",
                    "tokens": [50364, 2264],
                    "temperature": 0.0,
                    "avg_logprob": -0.25,
                    "compression_ratio": 1.1,
                    "no_speech_prob": 0.01,
                }
            )
            middle = (start + end) / 2
            words += [
                {"word": "Request", "start": start, "end": middle},
                {"word": f"{number}.{part}", "start": middle, "end": end},
            ]
            start, part = end, part + 1
        answer = {
            "task": "transcribe",
            "language": "english",
            "duration": duration,
            "text": "".join(s["text"] for s in segments).strip(),
            "segments": segments,
        }
        if "word" in granularities:
            answer["words"] = words
        return answer

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: dict,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
