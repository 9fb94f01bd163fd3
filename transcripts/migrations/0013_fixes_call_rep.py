"""Calls made before the rep was a field of their own: the uploader led them, where the uploader
is in the call's team (someone who left, or staff uploading for a team, is nobody's rep)."""

from django.db import migrations
from django.db.models import Exists, F, OuterRef


def rep_is_the_uploader(apps, schema_editor):
    Call = apps.get_model("transcripts", "Call")
    Membership = apps.get_model("transcripts", "Membership")
    in_team = Membership.objects.filter(user=OuterRef("uploaded_by"), team=OuterRef("team"))
    calls = Call.objects.filter(rep__isnull=True, uploaded_by__isnull=False)
    calls.filter(Exists(in_team)).update(rep=F("uploaded_by"))


class Migration(migrations.Migration):
    dependencies = [("transcripts", "0012_stage_voices")]

    operations = [migrations.RunPython(rep_is_the_uploader, migrations.RunPython.noop)]
