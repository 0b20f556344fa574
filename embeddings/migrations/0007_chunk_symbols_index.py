"""GIN index on the names chunks define (identifier search), built CONCURRENTLY (atomic = False);
an invalid index left by a killed build is dropped first."""

from django.db import migrations

INDEX = "embeddings_chunk_symbols"


def build(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s AND NOT i.indisvalid",
            [INDEX],
        )
        if cursor.fetchone():
            cursor.execute(f"DROP INDEX CONCURRENTLY {INDEX}")
        cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON embeddings_chunk USING gin (symbols)")


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0006_chunk_symbols")]
    operations = [migrations.RunPython(build, drop)]
