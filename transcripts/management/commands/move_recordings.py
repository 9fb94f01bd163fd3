"""Move every call's recording between the local disk and the S3-compatible store.

    manage.py move_recordings --to s3      # MEDIA_ROOT -> S3_BUCKET, then set RECORDINGS_STORAGE=s3
    manage.py move_recordings --to local   # and back

Each recording keeps its name, so the database does not change: only where the file is. A
recording is copied, checked (same size), and only then removed from where it was, so the
command can be stopped at any point and run again; a second run finds nothing left to move.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from transcripts.models import Call
from transcripts.recordings import backend, local_copy

KINDS = ("local", "s3")


class Command(BaseCommand):
    help = "Move recordings between the local disk and the S3-compatible store (resumable)."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, choices=KINDS, help="Where recordings go.")
        parser.add_argument(
            "--keep-source", action="store_true", help="Copy only; leave the originals."
        )

    def handle(self, *args, to: str, keep_source: bool, **options):
        source_kind = next(kind for kind in KINDS if kind != to)
        if not settings.S3_STORAGE_OPTIONS["bucket_name"]:
            raise CommandError("Set S3_BUCKET (and the other S3_ settings) to move recordings.")
        try:
            source, target = backend(source_kind), backend(to)
        except Exception as error:  # noqa: BLE001 - a misconfigured store, said plainly
            raise CommandError(f"Cannot open the {to} storage: {error}") from error
        moved = present = missing = 0
        names = Call.objects.exclude(audio="").order_by("pk").values_list("audio", flat=True)
        for name in names.iterator(chunk_size=500):
            in_source = source.exists(name)
            if target.exists(name) and (not in_source or target.size(name) == source.size(name)):
                present += 1
            elif in_source:
                self.copy(source, target, name)
                moved += 1
            else:
                missing += 1
                self.stderr.write(f"Missing from both storages: {name}")
                continue
            if in_source and not keep_source:
                source.delete(name)
        self.stdout.write(
            f"{moved} recording(s) moved to {to}, {present} already there, {missing} missing."
        )
        if missing:
            raise CommandError(f"{missing} recording(s) were found in neither storage.")

    def copy(self, source, target, name: str) -> None:
        # A partial copy from an interrupted run is replaced, under the same name.
        target.delete(name)
        with local_copy(source, name) as path, path.open("rb") as handle:
            saved = target.save(name, File(handle, name=name))
        if saved != name or target.size(name) != source.size(name):
            raise CommandError(f"Copying {name} to {target} failed; nothing was deleted.")
