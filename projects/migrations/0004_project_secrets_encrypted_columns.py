# Secrets encrypted at rest (nyxsync.fields.EncryptedTextField), step 1 of 2: the columns.
# webhook_secret goes from varchar(128) to text, because its ciphertext ("fernet:" and a Fernet
# token, about 150 characters for a 43-character secret) does not fit; varchar -> text needs no
# table rewrite in PostgreSQL, only a short lock. github_token is new and nullable (no default):
# adding it rewrites nothing either. Rows written before this release still hold plaintext,
# which the new code reads as it is; 0005 encrypts it.

from django.db import migrations

import nyxsync.fields


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0003_memberships'),
    ]

    operations = [
        migrations.AlterField(
            model_name='project',
            name='webhook_secret',
            field=nyxsync.fields.EncryptedTextField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='project',
            name='github_token',
            field=nyxsync.fields.EncryptedTextField(blank=True, editable=False, null=True),
        ),
    ]
