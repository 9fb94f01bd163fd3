from django.db import migrations

REAPER = "transcripts.tasks.reap_stale_calls"


def quiet_reaper(apps, schema_editor):
    # The reaper runs every minute: saving each success filled Django-Q's "Successful tasks"
    # (and its save_limit of 1000) with it, pushing out the transcriptions. Its failures are
    # still saved.
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(func=REAPER).update(kwargs="{'q_options': {'save': False}}")
    apps.get_model("django_q", "Task").objects.filter(func=REAPER, success=True).delete()


def noisy_reaper(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=REAPER).update(kwargs=None)


class Migration(migrations.Migration):
    dependencies = [
        ("transcripts", "0007_storage_retention"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(quiet_reaper, noisy_reaper)]
