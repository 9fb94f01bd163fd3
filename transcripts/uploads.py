"""Upload size limits, enforced while the body streams in, before it can fill memory or disk."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

# Room for the form's other fields and the multipart boundaries around the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def too_large_message() -> str:
    return f"This file is larger than the {settings.MAX_UPLOAD_MB} MB upload limit."


def too_large_response(request: HttpRequest) -> HttpResponse:
    """413 for everyone; a page people can read for browsers, plain text for API clients."""
    if "text/html" in request.headers.get("Accept", ""):
        body = render_to_string(
            "transcripts/upload_too_large.html", {"message": too_large_message()}, request=request
        )
        return HttpResponse(body, status=413)
    return HttpResponse(too_large_message(), status=413, content_type="text/plain")


class UploadLimitMiddleware:
    """Refuse a body whose declared length is over the limit before reading any of it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES:
            return too_large_response(request)
        return self.get_response(request)


class LimitedUploadHandler(FileUploadHandler):
    """Counts the bytes of a body sent without a length (chunked), and stops past the limit.

    It runs first, so the handlers after it never store more than the limit. The view sees
    `request.upload_too_large` and answers 413.
    """

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.MAX_UPLOAD_BYTES:
            self.request.upload_too_large = True
            # Stop reading: the rest of a huge body is never pulled off the socket.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int):
        return None
