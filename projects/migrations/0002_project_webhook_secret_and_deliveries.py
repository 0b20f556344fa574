# Webhooks: the per-project HMAC key (nullable, no backfill: a project has no webhook until its
# owner asks for a secret) and the table of verified deliveries that makes replays no-ops.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='project',
            name='webhook_secret',
            field=models.CharField(blank=True, editable=False, max_length=128, null=True),
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('delivery_id', models.CharField(max_length=100)),
                ('event', models.CharField(max_length=50)),
                ('received_at', models.DateTimeField(auto_now_add=True)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.project')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('project', 'delivery_id'), name='webhook_delivery_unique_per_project')],
            },
        ),
    ]
