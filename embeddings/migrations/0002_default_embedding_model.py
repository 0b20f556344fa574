"""Registers the built-in model (all-MiniLM-L6-v2, 384-d) so its HNSW index can be built in the
next migration. Other models are registered at run time (embeddings.services)."""

from django.db import migrations


def register(apps, schema_editor):
    EmbeddingModel = apps.get_model("embeddings", "EmbeddingModel")
    EmbeddingModel.objects.get_or_create(
        name="all-MiniLM-L6-v2", defaults={"backend": "sentence-transformers", "dimensions": 384}
    )


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0001_initial")]
    operations = [migrations.RunPython(register, migrations.RunPython.noop)]
