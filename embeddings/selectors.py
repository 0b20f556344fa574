"""Reads of live snapshots for the pages: how big each branch's index is and which languages it
holds. Callers pass branches they already scoped to the user (projects/syncs selectors)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from embeddings.snapshot import LIVE_FILE_SQL


@dataclass(frozen=True)
class IndexSize:
    files: int  # files in the live snapshot, skipped ones included
    indexed_files: int  # files that have chunks
    chunks: int
    vectors: int  # distinct live chunk texts with a vector of the branch's model


def live_index_sizes(*, project_syncs) -> dict[int, IndexSize]:
    """ProjectSync id -> the size of its live snapshot (branches never synced are left out)."""
    ids = [project_sync.pk for project_sync in project_syncs if project_sync.live_generation]
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH files AS (
                SELECT ps.id AS sync_id, count(*) AS files, count(*) FILTER (WHERE f.skip_reason = '') AS indexed
                FROM project_syncs ps JOIN embeddings_sourcefile f ON f.project_sync_id = ps.id AND {LIVE_FILE_SQL}
                WHERE ps.id = ANY(%s) GROUP BY ps.id
            ), chunks AS (
                SELECT ps.id AS sync_id, count(*) AS chunks, count(DISTINCT v.content_hash) AS vectors
                FROM project_syncs ps
                JOIN embeddings_sourcefile f ON f.project_sync_id = ps.id AND {LIVE_FILE_SQL}
                JOIN embeddings_chunk c ON c.file_id = f.id
                LEFT JOIN embeddings_embeddingmodel m ON m.name = ps.embedding_model
                LEFT JOIN embeddings_vector v ON v.model_id = m.id AND v.content_hash = c.content_hash
                WHERE ps.id = ANY(%s) GROUP BY ps.id
            )
            SELECT files.sync_id, files.files, files.indexed, coalesce(chunks.chunks, 0), coalesce(chunks.vectors, 0)
            FROM files LEFT JOIN chunks USING (sync_id)
            """,
            [ids, ids],
        )
        return {row[0]: IndexSize(*row[1:]) for row in cursor.fetchall()}


def live_languages(*, project_syncs) -> list[str]:
    """The languages of the chunked files in the branches' live snapshots, by name."""
    ids = [project_sync.pk for project_sync in project_syncs if project_sync.live_generation]
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT DISTINCT f.language FROM project_syncs ps
            JOIN embeddings_sourcefile f ON f.project_sync_id = ps.id AND {LIVE_FILE_SQL}
            WHERE ps.id = ANY(%s) AND f.skip_reason = '' AND f.language <> ''
            ORDER BY 1
            """,
            [ids],
        )
        return [row[0] for row in cursor.fetchall()]
