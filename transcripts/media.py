"""Storing and streaming a call's recording, with HTTP Range support.

Audio never has a public URL: this is the only way out, and views call it after their check.
From an object store it streams the requested bytes only, or redirects to a presigned URL that
expires in minutes (AUDIO_PRESIGNED_REDIRECT).

What a browser receives is decided here and nowhere else: a recording is stored under an
extension chosen from its decoded container, never the uploaded name's, and served only as one
of a fixed set of audio and video types. Anything else is a download, so a file that is also
valid HTML or SVG can never run as a page of the portal.
"""

from __future__ import annotations

import logging
import re

from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)

from .recordings import byte_range_chunks, is_local, presigned_url

logger = logging.getLogger(__name__)

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Longer numbers are past any file's end; int() of thousands of digits raises ValueError.
MAX_POSITION_DIGITS = 18

# FFmpeg's demuxer names, as the upload probe reports them ("mov,mp4,m4a,3gp,3g2,mj2"), and the
# extension a recording in that container is stored under. Its names are exactly the demuxers
# recordings are opened with (speech.audio.ALLOWED_FORMATS; tests/test_hostile_recordings.py
# checks that they agree): a new format is added to both.
CONTAINER_EXTENSIONS = {
    "wav": ".wav",
    "mp3": ".mp3",
    "mov": ".m4a",
    "mp4": ".m4a",
    "m4a": ".m4a",
    "3gp": ".m4a",
    "ogg": ".ogg",
    "webm": ".webm",
    "matroska": ".webm",
    "flac": ".flac",
    "aac": ".aac",
}
# WebM holds only these audio codecs; Matroska with another one is stored as .mka.
WEBM_CODECS = {"opus", "vorbis"}
UNKNOWN_EXTENSION = ".bin"

# The only types the audio view ever sends, by stored extension. It includes the extensions of
# recordings stored before names were canonical (.mp4, .oga, .opus, .mkv, .mov); any other
# stored name, such as an old upload kept as ".html", is sent as a download.
SERVED_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".mp4": "video/mp4",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".webm": "audio/webm",
    ".mka": "audio/x-matroska",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
    ".flac": "audio/flac",
    ".aac": "audio/aac",
}
DOWNLOAD_TYPE = "application/octet-stream"

# Sent with every media response. Should a browser ever render one as a document anyway, the
# sandbox gives it an opaque origin and no scripts, and nothing may load from it.
MEDIA_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def stored_extension(format_name: str | None, codec: str = "") -> str:
    """The extension a recording is stored under, from its container as the probe decoded it."""
    for name in (format_name or "").split(","):
        extension = CONTAINER_EXTENSIONS.get(name.strip())
        if extension == ".webm" and codec not in WEBM_CODECS:
            return ".mka"
        if extension:
            return extension
    return UNKNOWN_EXTENSION


def served_type(name: str) -> str | None:
    """The audio or video type for a stored name, or None: it is then only a download."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    return SERVED_TYPES.get(suffix)


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= MAX_POSITION_DIGITS else 10**MAX_POSITION_DIGITS


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
        length = _position(last)
        if length == 0:
            return None
        return max(0, size - length), size - 1
    start = _position(first)
    end = min(_position(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end


def serve_audio(request: HttpRequest, call) -> HttpResponse:
    response = _audio_response(request, call)
    for header, value in MEDIA_HEADERS.items():
        response[header] = value
    return response


def _audio_response(request: HttpRequest, call) -> HttpResponse:
    storage, name = call.audio.storage, call.audio.name
    content_type = served_type(name)
    # With an object store, the player may fetch a recording from it directly, through a URL
    # that expires in minutes (AUDIO_PRESIGNED_REDIRECT), from the store's origin, not ours;
    # the permanent object has no public URL. Anything not served as audio stays a download.
    signed = content_type and presigned_url(storage, name, content_type=content_type)
    if signed:
        response = HttpResponseRedirect(signed)
        response["Cache-Control"] = "private, no-store"
        return response
    try:
        size = storage.size(name)
    except Exception as error:
        # Gone from storage (deleted under the retention rules while the page was open, or by
        # hand): a missing recording, not a server error. Logged: it may be a store out of reach.
        logger.warning("Recording %s of call %s could not be read: %s", name, call.uuid, error)
        raise Http404("The recording is not in storage.") from error
    header = request.headers.get("Range")
    download_name = "" if content_type else f"call-{call.uuid.hex[:8]}.bin"
    if not header and is_local(storage):
        response = FileResponse(
            storage.open(name, "rb"),
            content_type=content_type or DOWNLOAD_TYPE,
            as_attachment=content_type is None,
            filename=download_name,
        )
    elif not header:
        response = StreamingHttpResponse(
            byte_range_chunks(storage, name, 0, None), content_type=content_type or DOWNLOAD_TYPE
        )
        response["Content-Length"] = str(size)
        if content_type is None:
            response["Content-Disposition"] = f'attachment; filename="{download_name}"'
    else:
        byte_range = parse_range(header, size)
        if byte_range is None:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        start, end = byte_range
        response = StreamingHttpResponse(
            byte_range_chunks(storage, name, start, end),
            status=206,
            content_type=content_type or DOWNLOAD_TYPE,
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
        if content_type is None:
            response["Content-Disposition"] = "attachment"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
