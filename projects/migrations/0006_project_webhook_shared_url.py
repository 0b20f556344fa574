"""Each project gets its own webhook URL. Hooks set up before (a project with a webhook secret
already) keep working at the shared URL: they are marked here, once; projects linked later are
reached at their own URL only. The default is False, so code of the previous release inserting
rows during a deploy (the database default) makes projects of the new kind."""

from django.db import migrations, models


def mark_existing_hooks(apps, schema_editor):
    Project = apps.get_model("projects", "Project")
    Project.objects.filter(webhook_secret__isnull=False).update(webhook_shared_url=True)


class Migration(migrations.Migration):
    dependencies = [("projects", "0005_encrypt_plaintext_webhook_secrets")]

    operations = [
        migrations.AddField(
            model_name="project",
            name="webhook_shared_url",
            field=models.BooleanField(default=False, db_default=False, editable=False),
        ),
        migrations.RunPython(mark_existing_hooks, migrations.RunPython.noop),
    ]
