from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("transcripts", "0014_quality_choice_and_second_pass"),
    ]

    operations = [
        migrations.AddField(
            model_name="voiceprint",
            name="pitch",
            field=models.FloatField(blank=True, null=True),
        ),
    ]
