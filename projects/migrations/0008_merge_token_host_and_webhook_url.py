# Two branches of work each added a 0006 (the project token's host; the shared webhook URL): joined here.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0006_project_webhook_shared_url'),
        ('projects', '0007_bind_project_tokens_to_their_host'),
    ]

    operations = [
    ]
