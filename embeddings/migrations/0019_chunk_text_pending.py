"""Chunks get their full-text vector after the swap (embeddings.text_search): an index of the
pending ones (text_search NULL) by project, for search's word match of a scope's pending chunks
and for the pass that writes them. Every chunk written so far has its vector, so the index starts
empty; built CONCURRENTLY all the same (atomic = False), as writes go on."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0018_int8_r2_embedding_model")]

    operations = [
        AddIndexConcurrently(
            model_name="chunk",
            index=models.Index(fields=["project"], condition=models.Q(text_search__isnull=True), name="chunk_text_pending"),
        ),
    ]
