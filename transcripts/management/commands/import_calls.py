from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from transcripts import selectors, services
from transcripts.forms import ACCEPTED_EXTENSIONS


class Command(BaseCommand):
    help = "Queue every recording in a folder as a call of a user's team."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)
        parser.add_argument("--user", required=True, help="Username who uploads the calls.")
        parser.add_argument("--team", help="Team slug (needed when the user is in several).")

    def handle(self, *args, directory: Path, user: str, team: str | None, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a folder.")
        uploader = get_user_model().objects.filter(username=user).first()
        if uploader is None:
            raise CommandError(f"No user named {user!r}.")
        teams = selectors.teams_for_user(uploader)
        if team:
            teams = teams.filter(slug=team)
        if teams.count() != 1:
            raise CommandError("Name one of the user's teams with --team.")
        chosen = teams.get()
        files = sorted(
            p
            for p in directory.iterdir()
            if p.is_file() and p.suffix.lower() in ACCEPTED_EXTENSIONS
        )
        queued = 0
        for path in files:
            with path.open("rb") as handle:
                try:
                    call = services.call_create(
                        team=chosen, user=uploader, upload=File(handle, name=path.name)
                    )
                except ValidationError as error:
                    self.stderr.write(f"{path.name}: skipped: {' '.join(error.messages)}")
                    continue
            queued += 1
            self.stdout.write(f"{path.name}: queued as {call.uuid}")
        self.stdout.write(f"Queued {queued} of {len(files)} recording(s) for {chosen.name}.")
