"""Streaming a call's recording to the people allowed to hear it, with HTTP Range support.

Audio never has a public URL: this is the only way out, and views call it after their check.
From an object store it streams the requested bytes only, or redirects to a presigned URL that
expires in minutes (AUDIO_PRESIGNED_REDIRECT).
"""

from __future__ import annotations

import mimetypes
import re

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)

from .recordings import byte_range_chunks, is_local, presigned_url

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".webm": "audio/webm",
    ".mp4": "video/mp4",
    ".flac": "audio/flac",
}


def audio_content_type(name: str) -> str:
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return AUDIO_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The first byte range of a Range header as (start, end inclusive); None if unsatisfiable.

    Browsers' players ask for one range at a time; a multi-range request gets its first range.
    """
    match = RANGE.match(header.split(",")[0].strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0:
            return None
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end


def serve_audio(request: HttpRequest, call) -> HttpResponse:
    storage, name = call.audio.storage, call.audio.name
    content_type = audio_content_type(name)
    # With an object store, the player may fetch from it directly, through a URL that expires
    # in minutes (AUDIO_PRESIGNED_REDIRECT); the permanent object has no public URL.
    signed = presigned_url(storage, name, content_type=content_type)
    if signed:
        response = HttpResponseRedirect(signed)
        response["Cache-Control"] = "private, no-store"
        return response
    size = storage.size(name)
    header = request.headers.get("Range")
    if not header and is_local(storage):
        response = FileResponse(storage.open(name, "rb"), content_type=content_type)
    elif not header:
        response = StreamingHttpResponse(
            byte_range_chunks(storage, name, 0, None), content_type=content_type
        )
        response["Content-Length"] = str(size)
    else:
        byte_range = parse_range(header, size)
        if byte_range is None:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        start, end = byte_range
        response = StreamingHttpResponse(
            byte_range_chunks(storage, name, start, end), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
