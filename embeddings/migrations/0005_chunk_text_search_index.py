"""Full-text index on chunk text for hybrid search (embeddings.search), built CONCURRENTLY.

The expression splits code on every non-alphanumeric character first (snake_case, dotted names
and punctuation become words); search builds its queries with the same expression, which it
must match exactly for the index to be used. atomic = False: concurrent builds cannot run in a
transaction; an invalid index left by a killed build is dropped first."""

from django.db import migrations

INDEX = "embeddings_chunk_text_search"
EXPRESSION = "to_tsvector('simple'::regconfig, regexp_replace(text, '[^[:alnum:]]+', ' ', 'g'))"


def build(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s AND NOT i.indisvalid",
            [INDEX],
        )
        if cursor.fetchone():
            cursor.execute(f"DROP INDEX CONCURRENTLY {INDEX}")
        cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON embeddings_chunk USING gin (({EXPRESSION}))")


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0004_embed_batches")]
    operations = [migrations.RunPython(build, drop)]
