# Scheduled syncs (syncs.schedule): two nullable columns on project_syncs (no rewrite, no backfill:
# NULL next_check_at means "due now") and the partial index of the scheduler's due query.
#
# atomic = False: project_syncs is a protected table, so its index is built CONCURRENTLY, which
# PostgreSQL refuses inside a transaction. A killed build leaves an INVALID index; drop it
# (DROP INDEX CONCURRENTLY project_sync_due_check) and migrate again.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('syncs', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='projectsync',
            name='last_checked_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='projectsync',
            name='next_check_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        AddIndexConcurrently(
            model_name='projectsync',
            index=models.Index(condition=models.Q(('auto_sync', True)), fields=['next_check_at'], name='project_sync_due_check'),
        ),
    ]
