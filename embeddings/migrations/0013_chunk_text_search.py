"""Chunks store their full-text vector (step 1 of 3): a column, nullable (instant, no rewrite),
written with each chunk from now on (embeddings.manifest). Search used to rebuild it from the
text for every chunk it looked at; 0014 fills it for the chunks written before, 0015 indexes it."""

import django.contrib.postgres.search
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0012_int8_embedding_model")]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="text_search",
            field=django.contrib.postgres.search.SearchVectorField(null=True),
        ),
    ]
