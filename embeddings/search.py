"""Search the live snapshots of branches: hybrid, the vector neighbours of a query fused with its
full-text matches and, for identifier-like queries, the definitions of the identifier, by
reciprocal rank fusion. An exact identifier finds its definition even where the vector alone
would not; a vague question still finds code that means the same thing.

Callers pass branches they have already scoped to the user (projects.selectors); this module
never widens that set. Each branch group is read in one REPEATABLE READ transaction, so a search
sees one snapshot of each branch, the previous one until a swap commits and the new one after.

Small scopes are scanned exactly; large ones go through the model's HNSW index with pgvector's
iterative scan, which keeps walking the graph until enough rows pass the filters, so a selective
filter still returns k results."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from embeddings.backends import get_backend
from embeddings.models import EmbeddingModel
from embeddings.snapshot import LIVE_FILE_SQL, live_branches
from nyxsync.errors import DomainError

MAX_K = 100
MAX_QUERY_CHARS = 2000
RRF_K = 60  # the usual constant of reciprocal rank fusion
# Same expression as the GIN index of migration embeddings.0005 (it must match to be used).
TEXT_VECTOR = "to_tsvector('simple'::regconfig, regexp_replace(c.text, '[^[:alnum:]]+', ' ', 'g'))"
# Above this many chunks (in the scope) holding every word of a query, the full-text ranking is
# left out; above TEXT_MATCH_MAX (in the whole table), it is not even looked at.
TEXT_RANK_MAX = 300
TEXT_MATCH_MAX = 5000
# Words too common in code to be the identifier someone looks for.
_NOT_NAMES = {
    "def", "class", "function", "func", "fn", "interface", "type", "struct", "enum", "const", "let", "var",
    "self", "cls", "this", "none", "null", "true", "false", "return", "import", "from", "async", "await",
    "public", "private", "static", "void", "int", "str", "string", "bool", "list", "dict", "new", "for", "while",
}


@dataclass(frozen=True)
class SearchHit:
    path: str
    start_line: int
    end_line: int
    score: float  # cosine similarity of the chunk to the query
    text: str
    commit: str
    branch: str
    project_sync_id: int
    model: str
    fused: float = 0.0  # reciprocal-rank-fusion score, what results are ordered by


class SearchError(DomainError, ValueError):
    pass


# Paths of tests, by the usual conventions (tests/ folders, test_x.py, x_test.go, x.spec.ts, ...).
TEST_PATHS = (
    r"(^|/)(tests?|__tests__|specs?|testing)/|(^|/)(test_[^/]*|conftest\.py)$"
    r"|[._-](test|tests|spec)\.[^/]+$|[a-z0-9]Tests?\.(java|kt|cs|swift|scala)$"
)


def search(
    *,
    project_syncs,
    query: str,
    k: int = 10,
    path_glob: str | None = None,
    language: str | None = None,
    exclude_tests: bool = False,
) -> list[SearchHit]:
    query = (query or "").strip()
    if not query:
        raise SearchError("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise SearchError(f"k must be between 1 and {MAX_K}")
    filters = _Filters.build(path_glob=path_glob, language=language, exclude_tests=exclude_tests)

    # Each branch's model as the database has it now, not as the caller's copy remembers it.
    groups: dict[str, tuple[list[int], int]] = {}
    for pk, model_name, chunks in live_branches([sync.pk for sync in project_syncs]):
        ids, total = groups.get(model_name, ([], 0))
        groups[model_name] = ([*ids, pk], total + chunks)
    hits: list[SearchHit] = []
    for model_name, (sync_ids, chunks) in groups.items():
        hits += _search_group(model_name, sync_ids, chunks, query, k, filters)
    return sorted(hits, key=lambda hit: (-hit.fused, -hit.score))[:k]


@dataclass(frozen=True)
class _Filters:
    sql: str
    params: list

    @classmethod
    def build(cls, *, path_glob: str | None, language: str | None, exclude_tests: bool = False) -> _Filters:
        sql, params = "", []
        if exclude_tests:
            sql += " AND f.path !~ %s"
            params.append(TEST_PATHS)
        if path_glob:
            sql += " AND f.path ~ %s"
            params.append(glob_to_regex(path_glob))
        if language:
            if not re.fullmatch(r"[a-z0-9+#-]{1,32}", language):
                raise SearchError(f"unknown language {language[:40]!r}")
            sql += " AND f.language = %s"
            params.append(language)
        return cls(sql, params)


def glob_to_regex(glob: str) -> str:
    """A path glob as a PostgreSQL regular expression: `*` and `?` stay inside one folder, `**`
    crosses folders; a glob without `/` matches a file name in any folder ("*.py")."""
    if len(glob) > 200 or any(ord(char) < 32 for char in glob):
        raise SearchError("the path filter is too long or holds control characters")
    out, index = [], 0
    while index < len(glob):
        if glob.startswith("**/", index):
            out.append("(.*/)?")
            index += 3
        elif glob.startswith("**", index):
            out.append(".*")
            index += 2
        else:
            char = glob[index]
            out.append({"*": "[^/]*", "?": "[^/]"}.get(char) or (char if char.isalnum() else "\\" + char))
            index += 1
    prefix = "^" if "/" in glob else "(^|/)"
    return prefix + "".join(out) + "$"


def _search_group(model_name: str, sync_ids: list[int], chunks: int, query: str, k: int, filters: _Filters) -> list[SearchHit]:
    model = EmbeddingModel.objects.filter(name=model_name).first()
    if model is None:
        return []
    vector = get_backend(model_name).embed([query])[0]  # before the transaction: the model is slow
    literal = "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32)) + "]"
    candidates = max(50, 4 * k)
    scope = _Scope(model, sync_ids, filters, literal)
    with _snapshot():
        ranked = [
            scope.nearest(candidates, exact=chunks <= settings.NYXSYNC_SEARCH_EXACT_MAX_CHUNKS),
            scope.text_matches(query, candidates),
            scope.definitions(query, candidates),
        ]
        # A definition is what an identifier query looks for: that ranking counts double.
        fused = _reciprocal_rank_fusion(ranked, weights=[1.0, 1.0, 2.0])
        top = sorted(fused, key=fused.get, reverse=True)[:k]
        return [SearchHit(*row, model_name, fused[row_id]) for row_id, *row in scope.rows(top)]


class _snapshot:
    """A read-only REPEATABLE READ transaction: every statement of the search sees one snapshot.
    Inside a caller's transaction, that transaction's snapshot rules apply instead."""

    def __enter__(self):
        self._outer = connection.in_atomic_block
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        if not self._outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def __exit__(self, *exc):
        return self._atomic.__exit__(*exc)


@dataclass
class _Scope:
    model: EmbeddingModel
    sync_ids: list[int]
    filters: _Filters
    literal: str

    @property
    def _from(self) -> str:
        return (
            "FROM project_syncs ps "
            f"JOIN embeddings_sourcefile f ON f.project_sync_id = ps.id AND {LIVE_FILE_SQL} "
            "JOIN embeddings_chunk c ON c.file_id = f.id "
        )

    def _where(self) -> tuple[str, list]:
        return f"WHERE ps.id = ANY(%s){self.filters.sql}", [self.sync_ids, *self.filters.params]

    def nearest(self, limit: int, *, exact: bool) -> list[int]:
        dims, model_id = int(self.model.dimensions), int(self.model.pk)
        distance = f"(v.embedding::vector({dims}) <=> %s::vector({dims}))"
        where, params = self._where()
        with connection.cursor() as cursor:
            if not exact:
                # Keep walking the HNSW graph until `limit` rows pass the branch and path filters,
                # and keep the planner on that walk: with a scope that is most of the table it
                # would rather join everything and sort, an exact scan hundreds of times slower.
                cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                cursor.execute("SET LOCAL enable_sort = off")
                cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(max(settings.NYXSYNC_SEARCH_EF, limit))])
            # "+ 0" keeps the planner off the HNSW index for exact scans of small scopes.
            order = f"{distance} + 0" if exact else distance
            cursor.execute(
                f"SELECT c.id, {distance} AS distance FROM embeddings_vector v "
                "JOIN embeddings_chunk c ON c.content_hash = v.content_hash "
                "JOIN embeddings_sourcefile f ON f.id = c.file_id "
                f"JOIN project_syncs ps ON ps.id = f.project_sync_id AND {LIVE_FILE_SQL} "
                "JOIN projects_project p ON p.id = ps.project_id AND p.owner_id = v.tenant_id "
                f"{where} AND v.model_id = {model_id} ORDER BY {order} LIMIT %s",
                [self.literal, *params, self.literal, limit],
            )
            rows = cursor.fetchall()
            if not exact:
                cursor.execute("RESET enable_sort")
        if not exact and len(rows) < limit:
            # The walk gave up (a very selective filter): scan the scope exactly instead.
            return self.nearest(limit, exact=True)
        return [row[0] for row in sorted(rows, key=lambda row: row[1])]  # relaxed order: sort again

    def text_matches(self, query: str, limit: int) -> list[int]:
        """Chunks holding every word of the query, best ranked first. Words so common that more
        than TEXT_RANK_MAX chunks hold them all tell nothing: then this ranking stays out."""
        terms = list(dict.fromkeys(re.findall(r"[a-z0-9]+", query.lower())))[:8]
        if not terms:
            return []
        tsquery = " & ".join(terms)
        matched = f"SELECT c.id, c.file_id FROM embeddings_chunk c WHERE {TEXT_VECTOR} @@ to_tsquery('simple', %s) LIMIT %s"
        rows = self._within_scope(matched, [tsquery, TEXT_MATCH_MAX + 1], "c.text", limit=TEXT_RANK_MAX + 1)
        if rows is None or len(rows) > TEXT_RANK_MAX:
            return []
        # Rank in Python: how often the words occur, per character (PostgreSQL would rebuild
        # each row's text vector to rank it).
        def density(row) -> float:
            words = re.findall(r"[a-z0-9]+", row[1].lower())
            return sum(words.count(term) for term in terms) / (len(words) or 1)

        return [row[0] for row in sorted(rows, key=lambda row: (-density(row), row[0]))][:limit]

    def definitions(self, query: str, limit: int) -> list[int]:
        """For a short identifier-like query: chunks that define one of its names (stored per
        chunk at ingest, embeddings.symbols; one index lookup)."""
        names = identifiers(query)
        if not names:
            return []
        matched = "SELECT c.id, c.file_id FROM embeddings_chunk c WHERE c.symbols && %s::varchar(200)[] LIMIT %s"
        rows = self._within_scope(matched, [names, TEXT_MATCH_MAX + 1], "length(c.text)", limit=TEXT_MATCH_MAX + 1)
        return [row[0] for row in sorted(rows or [], key=lambda row: (row[1], row[0]))][:limit]

    def _within_scope(self, matched_sql: str, matched_params: list, column: str, *, limit: int) -> list[tuple] | None:
        """(chunk id, column) of the chunks `matched_sql` finds through its index that are in
        the scope; None when the index finds more than TEXT_MATCH_MAX chunks (words that common
        say little). The index scan runs first, on its own: left to itself the planner may
        rather walk the whole scope and test every chunk's text."""
        where, params = self._where()
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH matched AS MATERIALIZED ({matched_sql}) "
                f"SELECT m.id, {column}, (SELECT count(*) FROM matched) FROM matched m "
                "JOIN embeddings_chunk c ON c.id = m.id "
                f"JOIN embeddings_sourcefile f ON f.id = m.file_id JOIN project_syncs ps ON ps.id = f.project_sync_id AND {LIVE_FILE_SQL} "
                f"{where} LIMIT %s",
                [*matched_params, *params, limit],
            )
            rows = cursor.fetchall()
        if rows and rows[0][2] > TEXT_MATCH_MAX:
            return None
        return [row[:2] for row in rows]

    def rows(self, chunk_ids: list[int]) -> list[tuple]:
        if not chunk_ids:
            return []
        dims = int(self.model.dimensions)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT c.id, f.path, c.start_line, c.end_line,
                       coalesce(1 - (v.embedding::vector({dims}) <=> %s::vector({dims})), 0), c.text, ps.live_commit, ps.branch, ps.id
                FROM embeddings_chunk c
                JOIN embeddings_sourcefile f ON f.id = c.file_id
                JOIN project_syncs ps ON ps.id = f.project_sync_id
                JOIN projects_project p ON p.id = ps.project_id
                LEFT JOIN embeddings_vector v
                       ON v.model_id = {int(self.model.pk)} AND v.tenant_id = p.owner_id AND v.content_hash = c.content_hash
                WHERE c.id = ANY(%s)
                """,
                [self.literal, chunk_ids],
            )
            by_id = {row[0]: row for row in cursor.fetchall()}
        return [by_id[chunk_id] for chunk_id in chunk_ids if chunk_id in by_id]


def identifiers(query: str) -> list[str]:
    """The names a short query (at most three words) may be looking for the definition of."""
    if len(query.split()) > 3:
        return []
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", query)
    return list(dict.fromkeys(name for name in names if name.lower() not in _NOT_NAMES and re.search(r"[a-z0-9]", name.lower())))[:3]


def _reciprocal_rank_fusion(rankings: list[list[int]], *, weights: list[float]) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, chunk_id in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (RRF_K + rank)
    return fused
