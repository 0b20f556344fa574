"""Full-text index on chunk text for hybrid search (embeddings.search), built CONCURRENTLY.

The expression splits code on every non-alphanumeric character first (snake_case, dotted names
and punctuation become words); search builds its queries with the same expression, which it
must match exactly for the index to be used. atomic = False: concurrent builds cannot run in a
transaction; an invalid index left by a killed build is dropped first."""

from django.db import migrations

from nyxsync.db import index_build, index_drop

INDEX = "embeddings_chunk_text_search"
EXPRESSION = "to_tsvector('simple'::regconfig, regexp_replace(text, '[^[:alnum:]]+', ' ', 'g'))"


def build(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        index_build(cursor, INDEX, f"ON embeddings_chunk USING gin (({EXPRESSION}))")


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        index_drop(cursor, INDEX)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0004_embed_batches")]
    operations = [migrations.RunPython(build, drop)]
