"""GIN index on the names chunks define (identifier search), built CONCURRENTLY (atomic = False);
an invalid index left by a killed build is dropped first."""

from django.db import migrations

from nyxsync.db import index_build, index_drop

INDEX = "embeddings_chunk_symbols"


def build(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        index_build(cursor, INDEX, "ON embeddings_chunk USING gin (symbols)")


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        index_drop(cursor, INDEX)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0006_chunk_symbols")]
    operations = [migrations.RunPython(build, drop)]
