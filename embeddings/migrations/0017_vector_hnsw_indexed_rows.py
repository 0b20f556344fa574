"""Vectors say whether they are in their model's HNSW index (step 2 of 2): each model's index is
rebuilt over its indexed rows only, and the pending rows get a small index of their own.

An HNSW insert costs milliseconds, a sync writes 100,000 vectors: rows now arrive pending and
the indexer moves them into the index in batches after the swap, while search reads them
exactly (embeddings.search). For that, each model's index `embeddings_vector_hnsw_<id>`
(WHERE model_id = <id>) becomes `embeddings_vector_hnsw_<id>_indexed` (WHERE model_id = <id>
AND indexed). The new one is built first, CONCURRENTLY, so writes go on and search keeps the old
one until it is dropped, CONCURRENTLY, after it (a query that asks for indexed rows may use
either). atomic = False: neither can run in a transaction. Re-runnable: an invalid index left by
a killed build is dropped and built again (nyxsync.db.index_build). The builds take as long as
the models' vectors need (about 100 s per 100,000 384-d vectors on 2 cores): a post-deploy step.
No vector is touched."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

from nyxsync.db import index_build, index_drop


def _hnsw(model, *, indexed_only: bool) -> tuple[str, str]:
    pk, dims = int(model.pk), int(model.dimensions)
    name = f"embeddings_vector_hnsw_{pk}" + ("_indexed" if indexed_only else "")
    where = f"model_id = {pk}" + (" AND indexed" if indexed_only else "")
    return name, f"ON embeddings_vector USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WHERE {where}"


def _swap(apps, schema_editor, *, indexed_only: bool) -> None:
    EmbeddingModel = apps.get_model("embeddings", "EmbeddingModel")
    with schema_editor.connection.cursor() as cursor:
        for model in EmbeddingModel.objects.order_by("pk"):
            new_name, definition = _hnsw(model, indexed_only=indexed_only)
            old_name, _ = _hnsw(model, indexed_only=not indexed_only)
            index_build(cursor, new_name, definition)
            index_drop(cursor, old_name)


def forwards(apps, schema_editor):
    _swap(apps, schema_editor, indexed_only=True)


def backwards(apps, schema_editor):
    _swap(apps, schema_editor, indexed_only=False)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0016_vector_indexed")]

    operations = [
        AddIndexConcurrently(
            model_name="vector",
            index=models.Index(fields=["model", "tenant"], condition=models.Q(indexed=False), name="vector_pending"),
        ),
        migrations.RunPython(forwards, backwards),
    ]
