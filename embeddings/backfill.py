"""Backfill: embed exactly the live chunks that have no vector for their branch's model (after an
import, a restore, an interrupted run, or a vector column recreated by hand). Resumable and
idempotent: each batch is stored as it is made, and a second pass finds nothing to do."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection

from embeddings.snapshot import LIVE_FILE_SQL
from nyxsync.locks import BACKFILL, advisory_key, advisory_lock

logger = logging.getLogger(__name__)


class BackfillBusy(Exception):
    pass


@dataclass
class BackfillResult:
    missing: dict[str, int] = field(default_factory=dict)  # model -> vectors missing before
    embedded: int = 0


def missing_vectors(*, project_id: int | None = None) -> dict[tuple[str, int], dict[str, str]]:
    """(model name, tenant) -> {content hash: text} of live chunks whose vector is missing or
    empty in their project's tenant (embeddings.vectors)."""
    where, params = ("AND ps.project_id = %s", [project_id]) if project_id else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT DISTINCT ON (ps.embedding_model, p.owner_id, c.content_hash) ps.embedding_model, p.owner_id, c.content_hash, c.text
            FROM project_syncs ps
            JOIN projects_project p ON p.id = ps.project_id
            JOIN embeddings_sourcefile f ON f.project_sync_id = ps.id AND {LIVE_FILE_SQL}
            JOIN embeddings_chunk c ON c.file_id = f.id
            LEFT JOIN embeddings_embeddingmodel m ON m.name = ps.embedding_model
            WHERE ps.live_generation > 0 {where}
              AND NOT EXISTS (
                  SELECT 1 FROM embeddings_vector v
                  WHERE v.model_id = m.id AND v.tenant_id = p.owner_id AND v.content_hash = c.content_hash
                    AND v.embedding IS NOT NULL
              )
            """,
            params,
        )
        missing: dict[tuple[str, int], dict[str, str]] = {}
        for model, tenant_id, content_hash, text in cursor.fetchall():
            missing.setdefault((model, tenant_id), {})[content_hash] = text
    return missing


def backfill(*, project_id: int | None = None, dry_run: bool = False, on_progress: Callable[[int, int], None] | None = None) -> BackfillResult:
    """Embed what is missing; `on_progress(done, total)` after each stored batch."""
    from embeddings.backends import get_backend
    from embeddings.backends.base import batched
    from embeddings.vectors import (
        embedding_model_register,
        vector_index_ensure,
        vectors_copy_from_other_tenants,
        vectors_write,
    )

    with _single_backfill():
        missing = missing_vectors(project_id=project_id)
        result = BackfillResult()
        for (model_name, _tenant), texts in missing.items():
            result.missing[model_name] = result.missing.get(model_name, 0) + len(texts)
        if dry_run:
            return result
        total = sum(result.missing.values())
        done = 0
        for (model_name, tenant_id), texts in missing.items():
            backend = get_backend(model_name)
            model = embedding_model_register(name=backend.name, backend=backend.backend, dimensions=backend.dimensions)
            vector_index_ensure(model)  # a column recreated by hand lost its index too
            copied = vectors_copy_from_other_tenants(model, texts, tenant_id=tenant_id)
            done += len(copied)
            todo = sorted((h for h in texts if h not in copied), key=lambda h: len(texts[h]))
            for batch in batched(todo, backend.max_batch):
                vectors_write(model, batch, backend.embed([texts[h] for h in batch]), tenant_id=tenant_id)
                result.embedded += len(batch)
                done += len(batch)
                if on_progress:
                    on_progress(done, total)
    logger.info("embeddings.backfill.finished", extra={"embedded": result.embedded, "project_id": project_id})
    return result


@contextmanager
def _single_backfill() -> Iterator[None]:
    with advisory_lock(advisory_key(BACKFILL)) as acquired:  # one backfill at a time per database
        if not acquired:
            raise BackfillBusy("another backfill is running on this database")
        yield
