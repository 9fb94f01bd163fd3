"""HTTP to the OpenAI audio transcription API, through the standard library (urllib): no extra
package to install and keep patched. Retries, and error messages a person can act on."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence

from .base import TranscriptionError

# Status codes worth trying again: rate limits and the server's own failures.
RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


class TranscriptionAPIClient:
    """Posts audio to {api_base}/audio/transcriptions with the key; never shows the key."""

    def __init__(
        self,
        *,
        api_key: str,
        api_base: str,
        model: str,
        retries: int = 3,
        backoff_seconds: float = 2.0,
        max_backoff_seconds: float = 60.0,
        timeout_seconds: float = 600.0,
    ):
        if not api_key.strip():
            raise TranscriptionError(
                "The API engine needs an OpenAI API key: set OPENAI_API_KEY, or choose a local "
                "engine with WHISPER_ENGINE."
            )
        base = api_base.strip().rstrip("/")
        # urllib also opens file: and ftp: URLs; only HTTP makes sense here.
        if not base.startswith(("https://", "http://")):
            raise TranscriptionError(
                f"OPENAI_API_BASE must be an http:// or https:// URL, not {api_base!r}."
            )
        self._api_key = api_key.strip()
        self.api_base = base
        self.url = f"{base}/audio/transcriptions"
        self.model = model
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.timeout_seconds = timeout_seconds

    def __repr__(self) -> str:
        # Never the key: reprs end up in logs and tracebacks.
        return f"TranscriptionAPIClient(api_base={self.api_base!r})"

    def transcribe(
        self, fields: Sequence[tuple[str, str]], filename: str, mime_type: str, data: bytes
    ) -> dict:
        """POST one piece of audio with its form fields; the JSON answer. Retries what may pass
        (rate limits, the server's failures, the network); any failure is a TranscriptionError
        a person can act on, without the key."""
        body, content_type = encode_multipart(fields, filename, mime_type, data)
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self._api_key}",
                "Content-Type": content_type,
                "Accept": "application/json",
                "User-Agent": "callscribe",
            },
        )
        attempt = 0
        while True:
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                    payload = response.read()
                break
            except urllib.error.HTTPError as error:
                status, detail = error.code, self._error_detail(error)
                retry_after = _retry_after(error.headers.get("Retry-After"))
                if status not in RETRY_STATUSES or "insufficient_quota" in detail:
                    raise TranscriptionError(
                        self._http_message(status, detail, len(data))
                    ) from None
                if attempt >= self.retries:
                    raise TranscriptionError(self._gave_up_message(status, detail)) from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
                # Connection refused, DNS, TLS, a reset or a timeout: often passing, so retried.
                if attempt >= self.retries:
                    reason = getattr(error, "reason", None) or error
                    raise TranscriptionError(
                        f"The transcription API at {self.api_base} could not be reached: "
                        f"{self._redact(str(reason))}."
                    ) from None
                retry_after = None
            delay = self.backoff_seconds * 2**attempt
            if retry_after is not None:
                delay = max(delay, retry_after)
            time.sleep(min(delay, self.max_backoff_seconds))
            attempt += 1
        try:
            return json.loads(payload)
        except ValueError:
            raise TranscriptionError(
                f"The transcription API at {self.api_base} answered with something that is not a "
                "transcription: check OPENAI_API_BASE."
            ) from None

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[key]")

    def _error_detail(self, error: urllib.error.HTTPError) -> str:
        """The API's own explanation from an error response, without the key, kept short."""
        try:
            raw = error.read(20_000)
        except (OSError, http.client.HTTPException):
            return ""
        try:
            payload = json.loads(raw)
            detail = payload["error"]["message"]
            code = payload["error"].get("code")
            if code:
                detail = f"{detail} ({code})"
        except (ValueError, KeyError, TypeError, AttributeError):
            detail = raw.decode("utf-8", "replace")
        detail = " ".join(str(detail).split())
        return self._redact(detail)[:300]

    def _http_message(self, status: int, detail: str, size: int) -> str:
        said = f": {detail}" if detail else "."
        if status == 401:
            # OpenAI's message repeats part of the key; the status says all that is needed.
            return "The transcription API refused the API key (HTTP 401): check OPENAI_API_KEY."
        if status == 403:
            return f"The transcription API refused access for this API key (HTTP 403){said}"
        if status == 404:
            return (
                f"The transcription API has no {self.url} or no model {self.model!r} "
                f"(HTTP 404): check OPENAI_API_BASE and OPENAI_API_MODEL{said}"
            )
        if status == 413:
            return (
                f"The transcription API refused a {size / 1e6:.1f} MB piece of audio "
                f"as too large (HTTP 413): its limit is lower than this server expects{said}"
            )
        if status == 429:
            return f"The OpenAI account has no quota left (HTTP 429){said}"
        if status == 400:
            return f"The transcription API refused the request (HTTP 400){said}"
        return f"The transcription API answered HTTP {status}{said}"

    def _gave_up_message(self, status: int, detail: str) -> str:
        tries = self.retries + 1
        said = f" Its last answer: {detail}" if detail else ""
        if status == 429:
            return (
                f"The transcription API kept refusing requests as too many (HTTP 429) after "
                f"{tries} tries: try again later.{said}"
            )
        return (
            f"The transcription API failed (HTTP {status}) {tries} times in a row: try again "
            f"later.{said}"
        )


def encode_multipart(
    fields: Sequence[tuple[str, str]], filename: str, mime_type: str, data: bytes
) -> tuple[bytes, str]:
    """A multipart/form-data body with the text fields, then the file; and its content type."""
    boundary = f"callscribe-{uuid.uuid4().hex}"
    parts = []
    for name, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {mime_type}\r\n\r\n".encode()
    )
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header; the date form is rare from APIs and ignored."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
