"""HNSW index for the built-in model's vectors, built CONCURRENTLY so writes go on meanwhile.

atomic = False: CREATE INDEX CONCURRENTLY cannot run in a transaction. A killed concurrent build
leaves an INVALID index that IF NOT EXISTS would keep, so an invalid one is dropped first.
The index is partial (this model's rows only) on an expression (the untyped column cast to the
model's dimension), with the cosine opclass that embeddings.search orders by.
"""

from django.db import migrations

def build(apps, schema_editor):
    EmbeddingModel = apps.get_model("embeddings", "EmbeddingModel")
    model = EmbeddingModel.objects.filter(name="all-MiniLM-L6-v2").first()
    if model is None:
        return
    name = f"embeddings_vector_hnsw_{int(model.pk)}"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s AND NOT i.indisvalid",
            [name],
        )
        if cursor.fetchone():
            cursor.execute(f"DROP INDEX CONCURRENTLY {name}")
        cursor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON embeddings_vector "
            f"USING hnsw ((embedding::vector({int(model.dimensions)})) vector_cosine_ops) "
            f"WHERE model_id = {int(model.pk)}"
        )


def drop(apps, schema_editor):
    EmbeddingModel = apps.get_model("embeddings", "EmbeddingModel")
    model = EmbeddingModel.objects.filter(name="all-MiniLM-L6-v2").first()
    if model is not None:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS embeddings_vector_hnsw_{int(model.pk)}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0002_default_embedding_model")]
    operations = [migrations.RunPython(build, drop)]
