import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from transcripts.models import Membership, Team


class Command(BaseCommand):
    help = (
        "Create the first admin user (and a team for them) from ADMIN_USERNAME, ADMIN_PASSWORD "
        "and ADMIN_EMAIL, without prompting. Does nothing if the user exists."
    )

    def add_arguments(self, parser):
        parser.add_argument("--team", default=os.environ.get("ADMIN_TEAM", "Sales"))

    @transaction.atomic
    def handle(self, *args, team: str, **options):
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD")
        email = os.environ.get("ADMIN_EMAIL", "")
        if not password:
            raise CommandError("Set ADMIN_PASSWORD (and ADMIN_USERNAME, default 'admin').")
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": email, "is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save()
        first_team, _ = Team.objects.get_or_create(
            slug=team.lower().replace(" ", "-"), defaults={"name": team}
        )
        Membership.objects.get_or_create(
            user=user, team=first_team, defaults={"role": Membership.Role.MANAGER}
        )
        verb = "Created" if created else "Kept existing"
        self.stdout.write(f"{verb} admin user {username!r}, manager of team {first_team.name!r}.")
