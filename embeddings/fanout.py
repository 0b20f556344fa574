"""Fan-out of a run's embedding work: the hashes to embed are cut into batches stored in
Postgres (EmbedBatch); the run's own worker and helper tasks on any other worker pull batches
until none is left. A claim is a lease: a worker that dies holding one lets it lapse, and
another takes the batch. Vectors are stored per batch as they come, so nothing done is lost,
and the unique (model, tenant, hash) key keeps one vector per chunk whatever happens twice."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from embeddings.backends import EmbeddingError
from embeddings.manifest import chunk_texts_by_hash
from embeddings.models import EmbedBatch, EmbeddingModel
from embeddings.vectors import hashes_param, hashes_with_vectors, vector_tenant, vectors_write

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


class BatchFailed(EmbeddingError):
    """A batch failed on every attempt; the message is its last error (the run's error shows it)."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def batches_create(run, model: EmbeddingModel, hashes: list[str], *, size: int) -> int:
    EmbedBatch.objects.filter(run=run).delete()
    # One INSERT, each batch's hashes as one comma-joined text (as embeddings.vectors.HASHES_SQL):
    # psycopg would dump every hash of the run in Python, item by item.
    batches = [hashes_param(hashes[start : start + size]) for start in range(0, len(hashes), size)]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO embeddings_embedbatch (run_id, model_id, ordinal, content_hashes, claimed_by, attempts, error)
            SELECT %s, %s, b.n - 1, string_to_array(b.hashes, ',')::varchar(64)[], '', 0, ''
            FROM unnest(%s::text[]) WITH ORDINALITY AS b(hashes, n)
            """,
            [run.pk, model.pk, batches],
        )
    return len(batches)


def batches_delete(run) -> None:
    EmbedBatch.objects.filter(run=run).delete()


def batch_claim(run_id: int) -> EmbedBatch | None:
    """Take the next batch nobody holds (or whose holder's lease lapsed), or None."""
    lease = settings.NYXSYNC_FANOUT_LEASE_SECONDS
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE embeddings_embedbatch SET claimed_at = now(), claimed_by = %s, attempts = attempts + 1
            WHERE id = (
                SELECT id FROM embeddings_embedbatch
                WHERE run_id = %s AND done_at IS NULL AND attempts < %s
                  AND (claimed_at IS NULL OR claimed_at < now() - make_interval(secs => %s))
                ORDER BY ordinal LIMIT 1 FOR UPDATE SKIP LOCKED
            )
            RETURNING id
            """,
            [worker_name(), run_id, MAX_ATTEMPTS, lease],
        )
        row = cursor.fetchone()
    return EmbedBatch.objects.select_related("model", "run__project_sync__project").get(pk=row[0]) if row else None


def batch_process(batch: EmbedBatch, backend) -> int:
    """Embed what the batch still lacks and store it; returns how many vectors were stored.
    Texts come from any chunk with the hash (the run staged its chunks before embedding)."""
    try:
        tenant_id = vector_tenant(batch.run.project_sync.project)
        stored_already = hashes_with_vectors(batch.model, batch.content_hashes, tenant_id=tenant_id)  # one query for the whole batch
        missing = [h for h in batch.content_hashes if h not in stored_already]
        texts = chunk_texts_by_hash(batch.run.project_sync.project_id, missing)
        hashes = [h for h in missing if h in texts]
        vectors = backend.embed([texts[h] for h in hashes]) if hashes else None
        with transaction.atomic():  # the vectors and the batch's end in one commit (a commit waits for the disk)
            stored = vectors_write(batch.model, hashes, vectors, tenant_id=tenant_id) if hashes else 0
            EmbedBatch.objects.filter(pk=batch.pk).update(done_at=timezone.now(), error="")
    except Exception as exc:
        # Release the batch for another attempt (by anyone); the run fails after MAX_ATTEMPTS.
        EmbedBatch.objects.filter(pk=batch.pk).update(claimed_at=None, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    logger.info("embeddings.batch.done", extra={"run_id": batch.run_id, "batch": batch.ordinal, "stored": stored, "worker": worker_name()})
    return stored


def work_until_done(run_id: int, backend, *, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Pull and process batches of a run until none is free; returns how many this worker did."""
    done = 0
    while not should_stop():
        batch = batch_claim(run_id)
        if batch is None:
            return done
        batch_process(batch, backend)
        done += 1
    return done


def coordinate(run, backend, *, on_progress: Callable[[int], None], poll_seconds: float = 0.5) -> None:
    """The run's side: work on batches like any helper, then wait for those others hold,
    reporting progress (vectors stored so far) and taking over batches whose lease lapses."""
    while True:
        batch = batch_claim(run.pk)
        if batch is not None:
            try:
                batch_process(batch, backend)
            except EmbeddingError as exc:
                if exc.permanent:  # a bad key or an unknown model fails every attempt: stop now
                    raise
                logger.warning("embeddings.batch.failed", extra={"run_id": str(run.uuid), "batch": batch.ordinal, "error": str(exc)})
            except Exception:
                logger.warning("embeddings.batch.failed", extra={"run_id": str(run.uuid), "batch": batch.ordinal}, exc_info=True)
            on_progress(_hashes_done(run))
            continue
        pending = EmbedBatch.objects.filter(run=run, done_at__isnull=True)
        if not pending.exists():
            return
        exhausted = pending.filter(attempts__gte=MAX_ATTEMPTS, claimed_at__isnull=True).first()
        if exhausted is not None:
            raise BatchFailed(f"embedding batch {exhausted.ordinal} failed {exhausted.attempts} times: {exhausted.error}")
        on_progress(_hashes_done(run))
        time.sleep(poll_seconds)


def _hashes_done(run) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(cardinality(content_hashes)), 0) FROM embeddings_embedbatch WHERE run_id = %s AND done_at IS NOT NULL",
            [run.pk],
        )
        return int(cursor.fetchone()[0])
