"""Chunks' full-text vectors (Chunk.text_search), written after the swap, not with the chunks.

The stored vector and its GIN index cost about two thirds of a chunk row's write (bench/scale.py
--part writes), so a sync stages its chunks without one (pending: NULL) and this pass computes
them after the swap, a batch per short transaction, the vector indexer's way (embeddings.vectors;
the task embeddings.index_vectors runs both). Meanwhile search matches a pending chunk's words
from its text (embeddings.search, through the partial index chunk_text_pending of a project's
pending chunks), so a branch is searchable by words as soon as it is swapped in, and a pass that
dies or is stopped loses nothing: the rows stay pending, and the next pass takes them."""

from __future__ import annotations

import logging
import time

from django.db import connection

from nyxsync.db import run_in_batches
from nyxsync.locks import TEXT_INDEXER, advisory_key, advisory_lock

logger = logging.getLogger(__name__)


def text_search_sql(column: str = "text") -> str:
    """A chunk text's full-text vector: code split on every non-alphanumeric character (snake_case,
    dotted names and punctuation become words), no stemming. Search matches it with
    to_tsquery('simple', ...) of the query's words (embeddings.search)."""
    return f"to_tsvector('simple'::regconfig, regexp_replace({column}, '[^[:alnum:]]+', ' ', 'g'))"


_LOCK = advisory_key(TEXT_INDEXER)  # one pass per database


def chunks_text_search_fill(*, batch_size: int = 2000, seconds: float | None = None) -> tuple[int, bool]:
    """Write the text vector of pending chunks of swapped-in files, one batch per short
    transaction, until none is left or `seconds` have passed. Returns (chunks written, whether it
    stopped for time with chunks left). One pass at a time: a call while another runs writes
    nothing. Chunks a run has staged and not swapped in yet wait for their swap (the sync is
    busy with both cores meanwhile); a row locked by a writer is skipped, for the next batch.
    Acts on every tenant's chunks: callers act as the system."""
    deadline = None if seconds is None else time.monotonic() + seconds
    with advisory_lock(_LOCK) as acquired:
        if not acquired:
            return 0, False
        written, more = run_in_batches(
            f"UPDATE embeddings_chunk SET text_search = {text_search_sql()} WHERE id IN ("
            " SELECT c.id FROM embeddings_chunk c"
            " JOIN embeddings_sourcefile f ON f.id = c.file_id"
            " JOIN project_syncs ps ON ps.id = f.project_sync_id AND f.born_generation <= ps.live_generation"
            " WHERE c.text_search IS NULL LIMIT %s FOR UPDATE OF c SKIP LOCKED)",
            [],
            batch_size=batch_size,
            deadline=deadline,
        )
    if written:
        logger.info("embeddings.text_search.written", extra={"chunks": written, "more": more})
    return written, more


def chunks_text_search_pending_count() -> int:
    """How many chunks wait for their text vector, staged ones included (callers act as the system)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM embeddings_chunk WHERE text_search IS NULL")
        return cursor.fetchone()[0]
