# Secrets encrypted at rest, step 2 of 2: webhook secrets stored in plaintext before 0004 are
# encrypted with the first of NYXSYNC_ENCRYPTION_KEYS.
#
# atomic = False: batches of BATCH rows, each row its own short write, not one transaction over
# the table. Re-runnable: only rows whose stored text is not yet ciphertext are read, and each
# write is a compare-and-set on the text read, so a secret rotated meanwhile (by code that
# already encrypts) is never overwritten with the old one. The reverse decrypts, for a rollback
# to code that reads plaintext.

from django.db import migrations, models
from django.db.models.functions import Cast
from django.db.models.lookups import Exact, StartsWith

from nyxsync import crypto

BATCH = 500


def _stored(name: str):
    # The column's text as stored: a plain TextField output skips the field's decryption.
    return Cast(name, output_field=models.TextField())


def _rewrite(apps, *, encrypted: bool, change) -> None:
    """Rewrite, batch by batch, the webhook secrets whose stored form is (not) ciphertext."""
    Project = apps.get_model("projects", "Project")
    is_ciphertext = StartsWith(_stored("webhook_secret"), crypto.PREFIX)
    rows = Project.objects.filter(webhook_secret__isnull=False)
    rows = rows.filter(is_ciphertext) if encrypted else rows.exclude(is_ciphertext)
    last = 0
    while True:
        batch = list(rows.filter(pk__gt=last).annotate(stored=_stored("webhook_secret")).order_by("pk").values_list("pk", "stored")[:BATCH])
        if not batch:
            return
        last = batch[-1][0]
        for pk, stored in batch:
            Project.objects.filter(Exact(_stored("webhook_secret"), stored), pk=pk).update(webhook_secret=change(stored))


def encrypt_plaintext(apps, schema_editor):
    # The field encrypts what it is given: the plaintext goes in as it is.
    _rewrite(apps, encrypted=False, change=lambda stored: stored)


def decrypt_to_plaintext(apps, schema_editor):
    # A Value with a plain TextField output is written as it is, past the field's encryption.
    _rewrite(apps, encrypted=True, change=lambda stored: models.Value(crypto.decrypt(stored), output_field=models.TextField()))


class Migration(migrations.Migration):

    atomic = False
    dependencies = [
        ('projects', '0004_project_secrets_encrypted_columns'),
    ]

    operations = [
        migrations.RunPython(encrypt_plaintext, decrypt_to_plaintext, elidable=False),
    ]
