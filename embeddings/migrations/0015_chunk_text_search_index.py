"""Chunks store their full-text vector (step 3 of 3): its GIN index, built CONCURRENTLY, and the
expression index of migration 0005 dropped CONCURRENTLY (atomic = False for both). That index
was never used under row-level security (the policy has to be applied before `@@`), and it cost
every chunk written a second text vector."""

import django.contrib.postgres.indexes
from django.db import migrations

from nyxsync.db import index_build, index_drop

INDEX = "chunk_text_search"
OLD_INDEX = "embeddings_chunk_text_search"
OLD_EXPRESSION = "to_tsvector('simple'::regconfig, regexp_replace(text, '[^[:alnum:]]+', ' ', 'g'))"


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        index_build(cursor, INDEX, "ON embeddings_chunk USING gin (text_search)")
        index_drop(cursor, OLD_INDEX)


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        index_build(cursor, OLD_INDEX, f"ON embeddings_chunk USING gin (({OLD_EXPRESSION}))")
        index_drop(cursor, INDEX)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0014_chunk_text_search_fill")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="chunk",
                    index=django.contrib.postgres.indexes.GinIndex(fields=["text_search"], name=INDEX),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
