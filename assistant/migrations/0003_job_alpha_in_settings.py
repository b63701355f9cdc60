"""A job's alpha is stored once, in `settings` (it was also a column of its own)."""

from django.db import migrations


def alpha_into_settings(apps, schema_editor):
    GenerationJob = apps.get_model("assistant", "GenerationJob")
    for job in GenerationJob.objects.all().only("pk", "settings", "alpha").iterator():
        if job.settings.get("alpha") is None:
            job.settings = {**job.settings, "alpha": job.alpha}
            job.save(update_fields=["settings"])


class Migration(migrations.Migration):
    dependencies = [("assistant", "0002_callback_signing_secret")]

    operations = [
        migrations.RunPython(alpha_into_settings, migrations.RunPython.noop),
        migrations.RemoveField(model_name="generationjob", name="alpha"),
    ]
