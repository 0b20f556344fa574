"""The vector store: one row per (model, tenant, content hash), written as soon as it is computed.

Identical content anywhere in a tenant's projects (another file, branch or project of the same
owner) maps to the same row, so it is embedded once. Another tenant's rows are never looked at,
so what a run embeds or reuses tells its tenant nothing about anyone else's code; only where the
operator turns on NYXSYNC_SHARE_VECTORS_ACROSS_TENANTS are they copied instead of embedding the
same text again (`vectors_copy_from_other_tenants`). A row's vector is never updated; a model is
never mixed with another (partial HNSW index per model, see EmbeddingModel).

Rows are written pending (`indexed` false, outside the HNSW index: an insert into it costs
milliseconds, a plain row microseconds), and `vectors_index_pending` moves them into the index
in batches after each swap (the task syncs.index_vectors, and beat as a safety net)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction

from embeddings.models import EmbeddingModel
from nyxsync import tenancy
from nyxsync.db import index_build, index_exists, run_in_batches
from nyxsync.locks import INDEXER, advisory_key, advisory_lock

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)


def embedding_model_register(*, name: str, backend: str, dimensions: int) -> EmbeddingModel:
    """The EmbeddingModel row for `name`, created (with its HNSW index) on first use."""
    model, created = EmbeddingModel.objects.get_or_create(name=name, defaults={"backend": backend, "dimensions": dimensions})
    if model.dimensions != dimensions:
        raise ValueError(f"model {name!r} is registered with {model.dimensions} dimensions, its backend gives {dimensions}")
    if created:
        vector_index_ensure(model)
    return model


def vector_index_name(model: EmbeddingModel) -> str:
    """The model's HNSW index: over its indexed rows only (migration 0017)."""
    return f"embeddings_vector_hnsw_{int(model.pk)}_indexed"


def vector_index_definition(model: EmbeddingModel) -> str:
    """What follows CREATE INDEX <name>: the model's rows that are `indexed`, cast to its
    dimension, with the cosine opclass that embeddings.search orders by."""
    pk, dims = int(model.pk), int(model.dimensions)
    return f"ON embeddings_vector USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WHERE model_id = {pk} AND indexed"


def vector_index_ensure(model: EmbeddingModel) -> bool:
    """Build the model's partial HNSW index if missing; returns whether it exists now.
    CONCURRENTLY when not in a transaction, so writers go on; inside one (tests, first use in an
    atomic block) a plain build, which is instant for a model that has no indexed vectors yet.

    Only the owner role may build it: the app's role (row-level security, no DDL) leaves it to the
    next `migrate` or `vector_indexes` run; until then the model's vectors stay pending and
    search reads them exactly."""
    name = vector_index_name(model)
    with connection.cursor() as cursor:
        if index_exists(cursor, name):
            return True
        cursor.execute("SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE relname = 'embeddings_vector'")
        if not cursor.fetchone()[0]:
            logger.warning("embeddings.index.missing", extra={"model": model.name, "index": name, "fix": "manage.py vector_indexes"})
            return False
        index_build(cursor, name, vector_index_definition(model), concurrently=not connection.in_atomic_block)
    logger.info("embeddings.index.created", extra={"model": model.name, "index": name})
    return True


def vector_indexes_ensure() -> list[str]:
    """Build the missing HNSW index of every registered model; returns the models built for."""
    return [model.name for model in EmbeddingModel.objects.order_by("pk") if vector_index_ensure(model)]


# The indexer's advisory lock: one indexer per database.
_INDEXER_LOCK = advisory_key(INDEXER)


@dataclass(frozen=True)
class IndexerPass:
    moved: int  # vectors moved into their index
    more: bool  # stopped for time with vectors left to move (not: none left, or another indexer runs)


def vectors_index_pending(*, batch_size: int = 500, seconds: float | None = None) -> IndexerPass:
    """Move pending vectors (written since the last call) into their model's HNSW index, one
    batch per short transaction, until none is left or `seconds` have passed. A model whose
    index is missing or invalid keeps its rows pending: search reads them exactly. One indexer at
    a time: a call while another runs moves nothing and leaves the rest to that one.

    Each batch is an UPDATE that sets `indexed`: PostgreSQL writes the new row versions, and only
    those enter the HNSW index. A row locked by a writer is skipped, for the next batch or call.
    Acts on every tenant's vectors: callers act as the system."""
    deadline = None if seconds is None else time.monotonic() + seconds
    moved, more = 0, False
    with advisory_lock(_INDEXER_LOCK) as acquired:
        if not acquired:
            return IndexerPass(0, more=False)
        for model in EmbeddingModel.objects.order_by("pk"):
            with connection.cursor() as cursor:
                if not index_exists(cursor, vector_index_name(model)):
                    continue
            count, more = run_in_batches(
                "UPDATE embeddings_vector SET indexed = true WHERE id IN ("
                " SELECT id FROM embeddings_vector WHERE model_id = %s AND NOT indexed LIMIT %s FOR UPDATE SKIP LOCKED)",
                [model.pk],
                batch_size=batch_size,
                deadline=deadline,
            )
            moved += count
            if more:
                break
    if moved:
        logger.info("embeddings.index.moved", extra={"vectors": moved, "more": more})
    return IndexerPass(moved, more=more)


def vectors_pending_count() -> int:
    """How many vectors wait for the indexer (every tenant's: callers act as the system)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM embeddings_vector WHERE NOT indexed")
        return cursor.fetchone()[0]


# Content hashes go to PostgreSQL as one comma-joined text, split there: psycopg dumps a Python
# list item by item in Python (about 6 us a hash, a few seconds of a 100,000-chunk sync).
# Content hashes are hex digests (embeddings.chunking): never a comma.
HASHES_SQL = "string_to_array(%s, ',')"


def hashes_param(hashes: Iterable[str]) -> str:
    """The parameter of HASHES_SQL for `hashes`."""
    return ",".join(hashes)


def vector_tenant(project) -> int:
    """The tenant whose vectors serve `project`'s chunks: its owner."""
    return int(project.owner_id)


def hashes_with_vectors(model: EmbeddingModel, hashes: Iterable[str], *, tenant_id: int) -> set[str]:
    """Which of `hashes` already have a vector for `model` in the tenant's store."""
    hashes = list(set(hashes))
    found: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(hashes), 10_000):
            cursor.execute(
                "SELECT content_hash FROM embeddings_vector "
                f"WHERE model_id = %s AND tenant_id = %s AND content_hash = ANY({HASHES_SQL}) AND embedding IS NOT NULL",
                [model.pk, tenant_id, hashes_param(hashes[start : start + 10_000])],
            )
            found.update(row[0] for row in cursor.fetchall())
    return found


def vectors_copy_from_other_tenants(model: EmbeddingModel, hashes: Iterable[str], *, tenant_id: int) -> set[str]:
    """Where the operator shares vectors across tenants: copy into the tenant's store another
    tenant's vector of each of `hashes` that has one; returns the hashes copied. Without that
    setting, nothing (and no other tenant's row is read)."""
    hashes = list(set(hashes))
    if not settings.NYXSYNC_SHARE_VECTORS_ACROSS_TENANTS or not hashes:
        return set()
    copied: set[str] = set()
    # Other tenants' rows are out of the run's sight (row-level security): this read is the one
    # the operator allowed, so it is done as the system, and only here.
    with tenancy.dangerously_as_system(), transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(hashes), 10_000):
            cursor.execute(
                f"""
                INSERT INTO embeddings_vector (model_id, tenant_id, content_hash, embedding, created_at)
                SELECT DISTINCT ON (content_hash) model_id, %s, content_hash, embedding, now()
                FROM embeddings_vector
                WHERE model_id = %s AND content_hash = ANY({HASHES_SQL}) AND tenant_id <> %s AND embedding IS NOT NULL
                ORDER BY content_hash, id
                ON CONFLICT (model_id, tenant_id, content_hash) DO NOTHING
                RETURNING content_hash
                """,
                [tenant_id, model.pk, hashes_param(hashes[start : start + 10_000]), tenant_id],
            )
            copied.update(row[0] for row in cursor.fetchall())
    return copied


def vectors_write(model: EmbeddingModel, hashes: list[str], embeddings: np.ndarray, *, tenant_id: int) -> int:
    """Store vectors in the tenant's store in one short transaction (binary COPY into a temp
    table, then an insert that skips hashes another worker stored meanwhile). Returns how many
    rows were new."""
    if len(hashes) != len(embeddings):
        raise ValueError("one vector per hash")
    if not hashes:
        return 0
    _register_vector_type()  # before the cursor: a cursor copies its connection's adapters
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS incoming_vectors (content_hash varchar(64), embedding vector) ON COMMIT DELETE ROWS"
        )
        # Inside an outer transaction (a test, a caller's atomic block) rows of the last call remain.
        cursor.execute("TRUNCATE incoming_vectors")
        with cursor.cursor.copy("COPY incoming_vectors (content_hash, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            payload = _copy_payload(hashes, embeddings)
            if payload is not None:
                copy.write(payload)
            else:  # hashes or vectors of several lengths: psycopg's rows, with pgvector's dumper
                import numpy as np

                copy.set_types(["varchar", "vector"])
                for content_hash, vector in zip(hashes, embeddings, strict=True):
                    copy.write_row((content_hash, np.asarray(vector, dtype=np.float32)))
        cursor.execute(
            "INSERT INTO embeddings_vector (model_id, tenant_id, content_hash, embedding, created_at) "
            "SELECT %s, %s, content_hash, embedding, now() FROM incoming_vectors "
            # A row whose vector is gone (a column recreated by hand) gets it back; others stay as they are.
            "ON CONFLICT (model_id, tenant_id, content_hash) DO UPDATE SET embedding = EXCLUDED.embedding "
            "WHERE embeddings_vector.embedding IS NULL",
            [model.pk, tenant_id],
        )
        return cursor.rowcount


_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\0" + bytes(8)  # binary COPY's header: no flags, no extension
_COPY_TRAILER = b"\xff\xff"


def _copy_payload(hashes: list[str], embeddings) -> bytes | None:
    """The whole binary COPY of (content_hash, embedding) rows, built by numpy in one go: psycopg's
    row writer calls pgvector's dumper in Python for every vector (about 25 us a row). Each row:
    its field count, the hash (length, bytes), the vector (length; pgvector's binary form: int16
    dimensions, int16 unused, float4 values, all big-endian). None unless every hash and every
    vector has the same length (one model's always do)."""
    import numpy as np  # imported by what writes vectors: a no-op sync does not pay for it

    encoded = [content_hash.encode() for content_hash in hashes]
    width = len(encoded[0])
    try:
        vectors = np.asarray(embeddings, dtype=np.float32)
    except ValueError:  # vectors of several lengths
        vectors = None
    if vectors is None or vectors.ndim != 2 or not width or any(len(item) != width for item in encoded):
        return None
    dims = vectors.shape[1]
    rows = np.zeros(
        len(hashes),
        dtype=[("fields", ">i2"), ("hash_size", ">i4"), ("hash", f"S{width}"), ("vector_size", ">i4"), ("dims", ">i2"),
               ("unused", ">i2"), ("values", ">f4", (dims,))],
    )  # fmt: skip
    rows["fields"], rows["hash_size"], rows["vector_size"], rows["dims"] = 2, width, 4 + 4 * dims, dims
    rows["hash"] = encoded
    rows["values"] = vectors
    return _COPY_SIGNATURE + rows.tobytes() + _COPY_TRAILER


def _register_vector_type() -> None:
    connection.ensure_connection()
    raw = connection.connection
    if not getattr(raw, "_nyxsync_vector_registered", False):
        from pgvector.psycopg import register_vector

        register_vector(raw)
        raw._nyxsync_vector_registered = True


def vectors_collect_garbage(*, older_than_days: float = 7, dry_run: bool = False, batch: int = 10_000) -> int:
    """Delete vectors no chunk of their tenant refers to any more (in any branch, snapshot or
    model), created more than `older_than_days` ago. A vector a chunk refers to is never touched,
    so no read can lose one; the grace period covers a run that has stored vectors and not yet
    staged their chunks."""
    where = (
        "v.created_at < now() - make_interval(secs => %s) "
        "AND NOT EXISTS (SELECT 1 FROM embeddings_chunk c JOIN projects_project p ON p.id = c.project_id "
        "WHERE c.content_hash = v.content_hash AND p.owner_id = v.tenant_id)"
    )
    params = [older_than_days * 86400]
    with connection.cursor() as cursor:
        if dry_run:
            cursor.execute(f"SELECT count(*) FROM embeddings_vector v WHERE {where}", params)
            return cursor.fetchone()[0]
    deleted, _ = run_in_batches(
        f"DELETE FROM embeddings_vector WHERE id IN (SELECT v.id FROM embeddings_vector v WHERE {where} LIMIT %s)",
        params,
        batch_size=batch,
        deadline=None,
    )
    logger.info("embeddings.gc.finished", extra={"deleted": deleted})
    return deleted
