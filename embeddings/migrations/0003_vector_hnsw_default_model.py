"""HNSW index for the built-in model's vectors, built CONCURRENTLY so writes go on meanwhile.

atomic = False: CREATE INDEX CONCURRENTLY cannot run in a transaction. A killed concurrent build
leaves an INVALID index that IF NOT EXISTS would keep, so an invalid one is dropped first.
The index is partial (this model's rows only) on an expression (the untyped column cast to the
model's dimension), with the cosine opclass that embeddings.search orders by.
"""

from django.db import migrations

from nyxsync.db import index_build, index_drop

def build(apps, schema_editor):
    EmbeddingModel = apps.get_model("embeddings", "EmbeddingModel")
    model = EmbeddingModel.objects.filter(name="all-MiniLM-L6-v2").first()
    if model is None:
        return
    with schema_editor.connection.cursor() as cursor:
        index_build(
            cursor,
            f"embeddings_vector_hnsw_{int(model.pk)}",
            f"ON embeddings_vector USING hnsw ((embedding::vector({int(model.dimensions)})) vector_cosine_ops) "
            f"WHERE model_id = {int(model.pk)}",
        )


def drop(apps, schema_editor):
    EmbeddingModel = apps.get_model("embeddings", "EmbeddingModel")
    model = EmbeddingModel.objects.filter(name="all-MiniLM-L6-v2").first()
    if model is not None:
        with schema_editor.connection.cursor() as cursor:
            index_drop(cursor, f"embeddings_vector_hnsw_{int(model.pk)}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0002_default_embedding_model")]
    operations = [migrations.RunPython(build, drop)]
