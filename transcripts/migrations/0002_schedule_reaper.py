from django.db import migrations


def schedule_reaper(apps, schema_editor):
    # Every minute, calls whose worker died are put back in the queue (transcripts.tasks).
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="Reap stale calls",
        defaults={"func": "transcripts.tasks.reap_stale_calls", "schedule_type": "I", "minutes": 1,
                  "repeats": -1},
    )


def unschedule_reaper(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="Reap stale calls").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("transcripts", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedule_reaper, unschedule_reaper)]
