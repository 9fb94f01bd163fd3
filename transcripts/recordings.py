"""Where recordings live: the local disk or an S3-compatible store, behind Django's STORAGES.

The web and the workers only meet through the database and this storage, so a transcription
machine needs no disk shared with the web. A worker fetches a recording into its own temporary
folder for the time it decodes it (`local_copy`); the audio view reads byte ranges straight from
the store (`byte_range_chunks`) or hands the player a short-lived presigned URL.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024
# Read from the store in pieces this large: few requests, little memory.
DOWNLOAD_CHUNK = 1024 * 1024


def is_local(storage: Storage) -> bool:
    """Whether the storage's files are on this machine's disk (they have a path)."""
    return isinstance(storage, FileSystemStorage)


def backend(kind: str) -> Storage:
    """A storage of the `kind` in settings.RECORDINGS_BACKENDS ("local" or "s3"), built from
    its settings whatever RECORDINGS_STORAGE says: moving recordings needs both at once."""
    if kind == settings.RECORDINGS_STORAGE:
        return storages["default"]
    config = settings.RECORDINGS_BACKENDS[kind]
    return import_string(config["BACKEND"])(**config.get("OPTIONS", {}))


# --- A worker's temporary folder ----------------------------------------------------------------


def worker_temp_dir() -> Path:
    """This process's own folder for downloaded recordings, made on first use."""
    folder = Path(settings.WORKER_TEMP_DIR) / str(os.getpid())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_worker_temp_dirs() -> list[Path]:
    """Remove this process's folder and those of processes no longer alive on this machine.

    Run when a worker starts: a worker killed mid-download (OOM, kill -9, a timeout) leaves its
    file behind, and nothing else would ever remove it. Returns the folders removed.
    """
    root = Path(settings.WORKER_TEMP_DIR)
    removed = []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        stale = not folder.name.isdigit() or (
            int(folder.name) == os.getpid() or not _pid_alive(int(folder.name))
        )
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        logger.info("Removed %d stale worker temporary folder(s) under %s", len(removed), root)
    return removed


# --- Reading a recording ------------------------------------------------------------------------


@contextmanager
def local_copy(storage: Storage, name: str) -> Iterator[Path]:
    """A path to the recording on this machine's disk, for as long as the block runs.

    Local storage gives its own file. Any other storage is streamed into a file in the worker's
    temporary folder, which is removed when the block ends, however it ends.
    """
    if is_local(storage):
        yield Path(storage.path(name))
        return
    suffix = Path(name).suffix[:8]
    handle, temporary = tempfile.mkstemp(prefix="recording-", suffix=suffix, dir=worker_temp_dir())
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in byte_range_chunks(storage, name, 0, None, chunk_size=DOWNLOAD_CHUNK):
                out.write(chunk)
        yield Path(temporary)
    finally:
        Path(temporary).unlink(missing_ok=True)


def byte_range_chunks(
    storage: Storage, name: str, start: int, end: int | None, *, chunk_size: int = CHUNK
) -> Iterator[bytes]:
    """The recording's bytes from `start` to `end` (inclusive; None: to the end), in chunks.

    An S3 store is asked for just that range, so seeking in a two-hour call reads kilobytes, not
    the whole object (django-storages' own file object downloads all of it first).
    """
    bucket = getattr(storage, "bucket", None)
    if bucket is not None:
        key = storage._normalize_name(name)
        whole = start == 0 and end is None
        ranged = {} if whole else {"Range": f"bytes={start}-{'' if end is None else end}"}
        body = bucket.Object(key).get(**ranged)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()
        return
    with storage.open(name, "rb") as handle:
        handle.seek(start)
        remaining = None if end is None else end - start + 1
        while remaining is None or remaining > 0:
            data = handle.read(chunk_size if remaining is None else min(chunk_size, remaining))
            if not data:
                break
            if remaining is not None:
                remaining -= len(data)
            yield data


def presigned_url(storage: Storage, name: str, *, content_type: str) -> str | None:
    """A URL for the player that works for S3_PRESIGNED_SECONDS; None when the storage has none
    (the local disk), or redirects are not wanted.

    The store is told which type to answer with: the type stored with the object came from the
    uploader's browser, and could be anything.
    """
    if not settings.AUDIO_PRESIGNED_REDIRECT or is_local(storage):
        return None
    return storage.url(
        name,
        parameters={"ResponseContentType": content_type, "ResponseContentDisposition": "inline"},
        expire=settings.S3_STORAGE_OPTIONS["querystring_expire"],
    )
