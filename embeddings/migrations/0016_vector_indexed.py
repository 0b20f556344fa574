"""Vectors say whether they are in their model's HNSW index (step 1 of 2): a column, `indexed`.

Rows that exist now are in the index already, so the column is added with the database default
true (instant: PostgreSQL stores the default, no rewrite, no row touched), then the default
becomes false for the rows written from now on, which the indexer moves into the index after
each swap (embeddings.vectors.vectors_index_pending). 0017 rebuilds each model's index over the
indexed rows only and adds the index of the pending ones."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0015_chunk_text_search_index")]

    operations = [
        migrations.AddField(model_name="vector", name="indexed", field=models.BooleanField(db_default=True)),
        migrations.AlterField(model_name="vector", name="indexed", field=models.BooleanField(db_default=False)),
    ]
