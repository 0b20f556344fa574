"""The text of a file in a branch's live snapshot, rebuilt from its stored chunks: what search
found, opened without a checkout (the MCP door's read_file).

The chunks, not the worker's git cache: they are the snapshot search answers from (same
generation, same row-level security), and the database is the one store every web process
shares. By the conventions of embeddings.chunking every non-blank line is in exactly one chunk
and a chunk's text is its lines joined with "\\n", so the file comes back line for line, with
lines outside every chunk (blank or whitespace only) as empty lines and without trailing blank
lines. Files the pipeline skipped (binary, vendored, too large) have no chunks and no text here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from embeddings.snapshot import LIVE_FILE_SQL


@dataclass(frozen=True)
class LiveFileText:
    path: str
    language: str
    skip_reason: str  # why the file has no text here; blank when it was chunked
    lines: list[str]  # line N of the file is lines[N - 1]


def live_file_text(*, project_sync, path: str) -> LiveFileText | None:
    """The file `path` of the branch's live snapshot, or None if it has no such file."""
    # One statement: the file row and its chunks from one snapshot, even while a swap commits.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT f.language, f.skip_reason, c.start_line, c.end_line, c.text FROM project_syncs ps "
            f"JOIN embeddings_sourcefile f ON f.project_sync_id = ps.id AND {LIVE_FILE_SQL} "
            "LEFT JOIN embeddings_chunk c ON c.file_id = f.id "
            "WHERE ps.id = %s AND ps.live_generation > 0 AND f.path = %s ORDER BY c.ordinal",
            [project_sync.pk, path],
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    lines: list[str] = []
    for _language, _skip_reason, start, end, text in rows:
        if text is None:
            continue  # a file without chunks
        if start == end == len(lines):
            lines[-1] += text  # the next piece of a line longer than a chunk
            continue
        lines.extend([""] * (start - 1 - len(lines)))  # blank lines between chunks
        lines.extend(text.split("\n"))
    language, skip_reason = rows[0][0], rows[0][1]
    return LiveFileText(path=path, language=language, skip_reason=skip_reason, lines=lines)
