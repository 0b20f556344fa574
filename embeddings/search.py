"""Search the live snapshots of branches: the chunks nearest to a query, by cosine distance.

Callers pass branches they have already scoped to the user (projects.selectors); this module
never widens that set. Each query is one statement, so it reads one consistent snapshot of
each branch, the previous one until a swap commits and the new one after."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import connection

from embeddings.backends import get_backend
from embeddings.models import EmbeddingModel
from embeddings.snapshot import LIVE_FILE_SQL

MAX_K = 100


@dataclass(frozen=True)
class SearchHit:
    path: str
    start_line: int
    end_line: int
    score: float
    text: str
    commit: str
    branch: str
    project_sync_id: int
    model: str


class SearchError(ValueError):
    pass


def search(*, project_syncs, query: str, k: int = 10) -> list[SearchHit]:
    query = query.strip()
    if not query:
        raise SearchError("the query is empty")
    if not 1 <= k <= MAX_K:
        raise SearchError(f"k must be between 1 and {MAX_K}")
    from syncs.models import ProjectSync

    # Each branch's model as the database has it now, not as the caller's copy remembers it.
    by_model: dict[str, list[int]] = {}
    live = ProjectSync.objects.filter(pk__in=[sync.pk for sync in project_syncs], live_generation__gt=0)
    for pk, model_name in live.values_list("pk", "embedding_model"):
        by_model.setdefault(model_name, []).append(pk)
    hits: list[SearchHit] = []
    for model_name, sync_ids in by_model.items():
        hits += _search_model(model_name, sync_ids, query, k)
    return sorted(hits, key=lambda hit: -hit.score)[:k]


def _search_model(model_name: str, sync_ids: list[int], query: str, k: int) -> list[SearchHit]:
    model = EmbeddingModel.objects.filter(name=model_name).first()
    if model is None:
        return []
    vector = get_backend(model_name).embed([query])[0]
    literal = "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32)) + "]"
    dims = int(model.dimensions)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT f.path, c.start_line, c.end_line, 1 - (v.embedding::vector({dims}) <=> %s::vector({dims})) AS score,
                   c.text, ps.live_commit, ps.branch, ps.id, %s
            FROM project_syncs ps
            JOIN embeddings_sourcefile f ON f.project_sync_id = ps.id AND {LIVE_FILE_SQL}
            JOIN embeddings_chunk c ON c.file_id = f.id
            JOIN embeddings_vector v ON v.model_id = {int(model.pk)} AND v.content_hash = c.content_hash
            WHERE ps.id = ANY(%s)
            ORDER BY v.embedding::vector({dims}) <=> %s::vector({dims})
            LIMIT %s
            """,
            [literal, model_name, sync_ids, literal, k],
        )
        return [SearchHit(*row) for row in cursor.fetchall()]
