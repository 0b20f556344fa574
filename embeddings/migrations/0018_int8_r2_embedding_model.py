"""Registers int8-r2 (all-MiniLM-L6-v2-int8-r2, 384-d, ONNX Runtime, onnx_build's recipe 2), the
default for new branches from this release, so that `migrate` builds its HNSW index
(CONCURRENTLY, after the migrations: see embeddings.management.commands.migrate) before the first
branch needs it. Branches on other models keep theirs until they are re-embedded; nothing here
touches a branch or a vector."""

from django.db import migrations


def register(apps, schema_editor):
    EmbeddingModel = apps.get_model("embeddings", "EmbeddingModel")
    EmbeddingModel.objects.get_or_create(
        name="all-MiniLM-L6-v2-int8-r2", defaults={"backend": "onnxruntime", "dimensions": 384}
    )


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0017_vector_hnsw_indexed_rows")]
    operations = [migrations.RunPython(register, migrations.RunPython.noop)]
