"""Vectors get a tenant (the owner of the projects they serve), step 1 of 4: the column, nullable
(instant, no rewrite; code that predates it keeps inserting). 0009 makes the tenant part of the
unique key, 0010 fills it, 0011 makes it NOT NULL."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("embeddings", "0007_chunk_symbols_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="vector",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
