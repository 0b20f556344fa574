"""Registers the int8 model (all-MiniLM-L6-v2-int8, 384-d, ONNX Runtime), the default for new
branches, so that `migrate` builds its HNSW index (CONCURRENTLY, after the migrations: see
embeddings.management.commands.migrate) before the first branch needs it. Branches on the torch
model keep it until they are re-embedded; nothing here touches a vector."""

from django.db import migrations


def register(apps, schema_editor):
    EmbeddingModel = apps.get_model("embeddings", "EmbeddingModel")
    EmbeddingModel.objects.get_or_create(
        name="all-MiniLM-L6-v2-int8", defaults={"backend": "onnxruntime", "dimensions": 384}
    )


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0011_vector_tenant_not_null")]
    operations = [migrations.RunPython(register, migrations.RunPython.noop)]
