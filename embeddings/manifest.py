"""Writes to a branch's manifest (files and chunks) for the staged snapshot.

A run building generation G = live + 1 retires the live rows it replaces (retired_generation = G)
and inserts new rows born at G, all invisible to readers, who stay on the live generation until
the swap (embeddings.snapshot). A run that dies leaves such rows behind; the next run removes
them before it starts (`manifest_clean_staged`), and rows retired by an earlier swap are pruned
after each swap (`manifest_prune_retired`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction

from embeddings.models import SourceFile
from embeddings.snapshot import LIVE_FILE_SQL, visible_at
from embeddings.symbols import defined_names
from embeddings.text_search import text_search_sql
from embeddings.vectors import HASHES_SQL, hashes_param

# A chunk's full-text vector (Chunk.text_search): written after the swap (embeddings.text_search).
TEXT_SEARCH_SQL = text_search_sql()


@dataclass(frozen=True)
class LiveFile:
    id: int
    blob_sha: str
    skip_reason: str


@dataclass
class StagedFile:
    path: str
    blob_sha: str
    size_bytes: int
    language: str
    skip_reason: str
    chunks: list = field(default_factory=list)  # embeddings.chunking.Chunk


def manifest_live(project_sync) -> dict[str, LiveFile]:
    rows = (
        SourceFile.objects.filter(project_sync=project_sync)
        .filter(visible_at(project_sync.live_generation))
        .values_list("path", "id", "blob_sha", "skip_reason")
    )
    return {path: LiveFile(pk, blob, reason) for path, pk, blob, reason in rows.iterator(chunk_size=5000)}


def _delete_files(cursor, where: str, params: list) -> None:
    """Delete the manifest rows `where` picks (SQL on embeddings_sourcefile), chunks first."""
    cursor.execute(f"DELETE FROM embeddings_chunk WHERE file_id IN (SELECT id FROM embeddings_sourcefile WHERE {where})", params)
    cursor.execute(f"DELETE FROM embeddings_sourcefile WHERE {where}", params)


def manifest_delete(project_sync_ids: list[int]) -> None:
    """Delete every file and chunk of these branches (they are being removed). Vectors are
    shared by content hash and stay. Runs inside the caller's transaction."""
    with connection.cursor() as cursor:
        _delete_files(cursor, "project_sync_id = ANY(%s)", [list(project_sync_ids)])


def manifest_clean_staged(project_sync) -> None:
    """Undo what an unfinished run staged beyond the live generation."""
    live = project_sync.live_generation
    with transaction.atomic(), connection.cursor() as cursor:
        _delete_files(cursor, "project_sync_id = %s AND born_generation > %s", [project_sync.pk, live])
        cursor.execute(
            "UPDATE embeddings_sourcefile SET retired_generation = NULL WHERE project_sync_id = %s AND retired_generation > %s",
            [project_sync.pk, live],
        )


def manifest_retire(project_sync, *, generation: int, retire_ids: Iterable[int]) -> int:
    """Retire the live rows `retire_ids` as of generation `generation` (they stay visible until
    the swap). Before their paths get new rows: one current row per path. Returns how many
    chunks the retired files had (they leave the snapshot at the swap)."""
    retire_ids = list(retire_ids)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM embeddings_chunk WHERE file_id = ANY(%s)", [retire_ids])
        chunks_deleted = cursor.fetchone()[0]
        cursor.execute(
            "UPDATE embeddings_sourcefile SET retired_generation = %s WHERE id = ANY(%s) AND retired_generation IS NULL",
            [generation, retire_ids],
        )
    return chunks_deleted


def manifest_stage_files(project_sync, *, generation: int, files: list[StagedFile]) -> None:
    """Insert `files` with their chunks, born at `generation`, in one short transaction. A run
    stages its files in batches like this: rows of a generation beyond the live one are invisible
    to readers, and a run that dies leaves them to `manifest_clean_staged`."""
    with transaction.atomic(), connection.cursor() as cursor:
        file_ids = _insert_files(cursor, project_sync, generation, files)
        _copy_chunks(cursor, project_sync.project_id, file_ids, files)


def manifest_stage(project_sync, *, generation: int, retire_ids: Iterable[int], files: list[StagedFile]) -> int:
    """Stage generation `generation` in one transaction: retire `retire_ids`, insert `files` with
    their chunks. Returns how many chunks the retired files had."""
    with transaction.atomic():
        chunks_deleted = manifest_retire(project_sync, generation=generation, retire_ids=retire_ids)
        manifest_stage_files(project_sync, generation=generation, files=files)
    return chunks_deleted


def chunk_texts_by_hash(project_id: int, hashes: list[str]) -> dict[str, str]:
    """{content hash: text} of the project's chunks with one of `hashes` (any one chunk each)."""
    if not hashes:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT ON (content_hash) content_hash, text FROM embeddings_chunk WHERE project_id = %s AND content_hash = ANY({HASHES_SQL})",
            [project_id, hashes_param(hashes)],
        )
        return dict(cursor.fetchall())


def live_chunk_lengths(project_sync, *, exclude_file_ids: list[int]) -> dict[str, int]:
    """{content hash: text length} of the branch's live chunks outside `exclude_file_ids`: what a
    model change must embed besides the run's new chunks."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT DISTINCT ON (c.content_hash) c.content_hash, length(c.text)
            FROM project_syncs ps
            JOIN embeddings_sourcefile f ON f.project_sync_id = ps.id AND {LIVE_FILE_SQL}
            JOIN embeddings_chunk c ON c.file_id = f.id
            WHERE ps.id = %s AND NOT (f.id = ANY(%s))
            """,
            [project_sync.pk, exclude_file_ids],
        )
        return dict(cursor.fetchall())


def _insert_files(cursor, project_sync, generation: int, files: list[StagedFile]) -> list[int]:
    if not files:
        return []
    cursor.execute(
        """
        INSERT INTO embeddings_sourcefile
            (project_id, project_sync_id, path, blob_sha, size_bytes, language, skip_reason, born_generation)
        SELECT %s, %s, f.path, f.blob_sha, f.size_bytes, f.language, f.skip_reason, %s
        FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[]) WITH ORDINALITY
             AS f(path, blob_sha, size_bytes, language, skip_reason, n)
        ORDER BY f.n
        RETURNING id
        """,
        [
            project_sync.project_id,
            project_sync.pk,
            generation,
            [f.path for f in files],
            [f.blob_sha for f in files],
            [f.size_bytes for f in files],
            [f.language for f in files],
            [f.skip_reason for f in files],
        ],
    )
    # RETURNING follows the insertion order, which ORDER BY f.n fixes to the order of `files`.
    return [row[0] for row in cursor.fetchall()]


def _copy_chunks(cursor, project_id: int, file_ids: list[int], files: list[StagedFile]) -> None:
    # Binary COPY into a temporary table, then one INSERT: COPY cannot write to a table under
    # row-level security, and the INSERT is checked by its policy like any other write. A chunk's
    # symbols travel as one space-joined text (names never hold a space: embeddings.symbols),
    # split by the INSERT: psycopg dumps a Python list item by item in Python.
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS incoming_chunks (file_id bigint, project_id bigint, ordinal integer, "
        "start_line integer, end_line integer, content_hash varchar(64), text text, symbols text) ON COMMIT DELETE ROWS"
    )
    cursor.execute("TRUNCATE incoming_chunks")
    columns = "file_id, project_id, ordinal, start_line, end_line, content_hash, text, symbols"
    with cursor.cursor.copy(f"COPY incoming_chunks ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "int8", "int4", "int4", "int4", "varchar", "text", "text"])
        write_row = copy.write_row
        for file_id, staged in zip(file_ids, files, strict=True):
            for chunk in staged.chunks:
                write_row(
                    (file_id, project_id, chunk.ordinal, chunk.start_line, chunk.end_line, chunk.content_hash, chunk.text,
                     " ".join(defined_names(chunk.text)))
                )
    # No text vector: it costs two thirds of the row's write, and is written after the swap
    # (embeddings.text_search); search reads a pending chunk's words from its text meanwhile.
    cursor.execute(
        "INSERT INTO embeddings_chunk (file_id, project_id, ordinal, start_line, end_line, content_hash, text, symbols) "
        "SELECT file_id, project_id, ordinal, start_line, end_line, content_hash, text, "
        "string_to_array(symbols, ' ')::varchar(200)[] FROM incoming_chunks"
    )


def manifest_prune_retired(project_sync) -> None:
    """Delete rows no snapshot shows any more (retired at or before the live generation). MVCC
    keeps them readable for any query that started before the swap."""
    live = project_sync.live_generation
    with transaction.atomic(), connection.cursor() as cursor:
        _delete_files(cursor, "project_sync_id = %s AND retired_generation <= %s", [project_sync.pk, live])
