"""Search the live snapshots of branches: hybrid, the vector neighbours of a query fused with its
full-text matches and, for identifier-like queries, the definitions of the identifier, by
reciprocal rank fusion. An exact identifier finds its definition even where the vector alone
would not; a vague question still finds code that means the same thing.

Callers pass branches they have already scoped to the user (projects.selectors); this module
never widens that set, and row-level security holds under it. A search costs two round trips:
one reads the branches (their model, size and tenant), one statement per model does the rest
(the three rankings, their fusion and the rows), so it sees one snapshot of each branch, the
previous one until a swap commits and the new one after.

Every step reaches the caller's own chunks through an index, whatever other tenants hold:
- vectors: small scopes (NYXSYNC_SEARCH_EXACT_MAX_CHUNKS) are scanned exactly, from the branches'
  live files to their chunks to the tenant's vector of each; larger ones walk the model's HNSW
  index, keeping the scope's tenants' vectors (pgvector's iterative scan walks on until enough
  pass), and read the tenants' pending vectors (not in the index yet) exactly beside it, then
  find their chunks in the scope;
- words and definitions: the GIN indexes on the chunk's stored text vector and its symbols,
  through the view embeddings_chunk_scope (migration nyxsync.0003). Under the chunk table's
  row-level-security policy PostgreSQL must apply the policy before any operator that is not
  leakproof, `@@` and `&&` included, so it cannot use those indexes and tests every chunk of the
  scope (or of the table). The view applies the policy's own condition as a plain filter, so the
  planner may use the statement's indexable conditions (the GIN match, the scope's project ids)
  first; tests/embeddings/test_search_plans.py holds every statement to that. Chunks whose text
  vector is not written yet (after a sync, until embeddings.text_search's pass) are matched from
  their text, through the index of the scope's pending ones."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection

from embeddings.backends import get_backend
from embeddings.text_search import text_search_sql
from nyxsync.errors import DomainError

MAX_K = 100
MAX_QUERY_CHARS = 2000
RRF_K = 60  # the usual constant of reciprocal rank fusion
# Weights of the rankings in the fusion: vectors, words, definitions. A definition is what an
# identifier query looks for: that ranking counts double. The words (every one in the chunk) count
# half: on CoSQA's dev split they lifted near-misses above the first hit of plain questions (int8-r2,
# with RERANK_WEIGHT below: nDCG@10 60.8 without them, 60.7 at half, 60.6 at full weight); half
# keeps an exact phrase (an error message) ahead of its vector neighbours.
WEIGHTS = (1.0, 0.5, 2.0)
# Above this many chunks (in the live scope) holding every word of a query, the full-text ranking
# is left out; above MATCH_MAX (in the projects searched, any branch), the full-text or the
# definitions ranking is not even looked at: words and names that common say little.
TEXT_RANK_MAX = 300
MATCH_MAX = 5000
# Chunks whose text vector is not written yet (embeddings.text_search's pass, in the seconds after
# a big sync) are matched from their text: at most this many of the projects' pending chunks are
# read, so a search right after a 100,000-chunk sync stays fast while its words miss some chunks
# until the pass has caught up (17 s for 100,094 chunks, quiet). search() in process, a project of
# 97,886 chunks, quiet: all of them read 516 ms (p50), at most 5,000 of them 45 ms, none pending
# 16 ms; with its vectors pending too (not in the HNSW index yet) 643 ms, 169 ms, and 123 ms.
PENDING_TEXT_MAX = 5000
# The vector ranking's candidates are ordered by cosine + RERANK_WEIGHT * their BM25 score for the
# query's words (as a share of the best candidate's): a question in plain words shares few of them
# with the code it looks for (so the full-text ranking, every word at once, rarely fires), but the
# rarer ones it does share tell apart candidates the vector finds alike. Tuned on CoSQA's dev
# split (bench/retrieval.py --try) for int8-r2, the default model: nDCG@10 with the words at full
# weight 60.4 at 0, 60.6 at 0.03, 60.4-60.7 at 0.04-0.07, 60.2 at 0.1 (the weight tuned for recipe
# 1), 58.1 at 0.2, 55.7 at 0.3; with them at half 60.7 at 0.03, 60.5-60.6 at 0.04-0.05; raw dense
# 60.6 (differences of 0.1-0.2 are a query or two of 500). On the test split it was 59.3 (raw
# dense 59.6) until the hubness below. BM25 over the whole scope fused by rank instead cost 2
# points. It adds about 6 ms to a search.
RERANK_WEIGHT = 0.03
BM25_K1, BM25_B = 1.2, 0.75  # the usual constants
# The first HUB_POOL candidates (by cosine) stay first, and each one's score also loses HUB_WEIGHT
# times its hubness: its mean cosine to its HUB_NEIGHBOURS nearest among the rest of the pool.
# Code that resembles much of what the query brought up (a generic helper, one of many near-twins)
# is what a vague query finds by default; the one that stands out of that crowd is more often the
# one asked for (a local form of hubness reduction). On CoSQA's dev split (int8-r2, RERANK_WEIGHT
# 0.03) nDCG@10 60.7 at 0, 61.6 at 0.1, 61.5 at 0.2 and at 0.3, raw dense 60.6 (torch at 0.2: 61.2,
# raw dense 60.3); measured once on the test split at 0.2: 60.7 against raw dense 59.6 (torch 60.5
# against 59.3). A search of k <= 12 has 50 candidates, all in the pool; a larger k has the same
# pool, so it costs 2,450 pairs whatever k: about 1 ms of the statement (median 37.5 against 36.2
# ms at k=10, 96.0 against 95.0 at k=100, at load 1.6).
HUB_WEIGHT = 0.2
HUB_POOL = 50
HUB_NEIGHBOURS = 10
# Words that say how a question is asked, not what it is about.
_STOP_WORDS = frozenset(
    "a about an and any are as at be by can do does for from how i if in into is it its me my of on or "
    "so than that the their them then there these this those to use using was way we what when where "
    "which while who why will with without you your".split()
)
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
    hits: list[SearchHit] = []
    for group in _groups(project_syncs):
        hits += _search_group(group, query, k, filters)
    return sorted(hits, key=lambda hit: (-hit.fused, -hit.score))[:k]


def nearest_chunks(*, project_syncs, query: str, limit: int, exact: bool) -> list[int]:
    """The ids of the `limit` chunks nearest to `query` by vector alone, best first: the first
    ranking of a search, through the index or exactly (bench/scale.py compares the two)."""
    ids: list[int] = []
    for group in _groups(project_syncs):
        statement = _Statement(group, _vector_literal(group, query), query, limit, _Filters("", []))
        ids += statement.nearest_only(exact=exact)
    return ids


# --- the branches, grouped by model --------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    model_id: int
    model_name: str
    dimensions: int
    sync_ids: list[int]
    project_ids: list[int]
    tenant_ids: list[int]
    chunks: int  # live chunks in all these branches


def _groups(project_syncs) -> list[_Group]:
    """The live branches among `project_syncs`, by model, as the database has them now (not as
    the caller's copies remember them): one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT m.id, m.name, m.dimensions, ps.id, ps.project_id, p.owner_id, ps.live_chunk_count
            FROM project_syncs ps
            JOIN projects_project p ON p.id = ps.project_id
            JOIN embeddings_embeddingmodel m ON m.name = ps.embedding_model
            WHERE ps.id = ANY(%s) AND ps.live_generation > 0
            ORDER BY m.id, ps.id
            """,
            [[sync.pk for sync in project_syncs]],
        )
        rows = cursor.fetchall()
    groups: dict[int, dict] = {}
    for model_id, name, dimensions, sync_id, project_id, tenant_id, chunks in rows:
        group = groups.setdefault(model_id, {"name": name, "dims": dimensions, "syncs": [], "projects": set(), "tenants": set(), "chunks": 0})
        group["syncs"].append(sync_id)
        group["projects"].add(project_id)
        group["tenants"].add(tenant_id)
        group["chunks"] += chunks
    return [
        _Group(model_id, g["name"], g["dims"], g["syncs"], sorted(g["projects"]), sorted(g["tenants"]), g["chunks"])
        for model_id, g in groups.items()
    ]


def _vector_literal(group: _Group, query: str) -> str:
    vector = get_backend(group.model_name).embed([query])[0]  # outside any transaction: the model is slow
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32)) + "]"


def _search_group(group: _Group, query: str, k: int, filters: _Filters) -> list[SearchHit]:
    candidates = max(50, 4 * k)
    statement = _Statement(group, _vector_literal(group, query), query, candidates, filters)
    rows = statement.run(k, exact=group.chunks <= settings.NYXSYNC_SEARCH_EXACT_MAX_CHUNKS)
    return [SearchHit(*row[1:9], group.model_name, row[9]) for row in rows]


# --- filters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Filters:
    sql: str  # conditions on the manifest row `f`
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


def identifiers(query: str) -> list[str]:
    """The names a short query (at most three words) may be looking for the definition of."""
    if len(query.split()) > 3:
        return []
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", query)
    return list(dict.fromkeys(name for name in names if name.lower() not in _NOT_NAMES and re.search(r"[a-z0-9]", name.lower())))[:3]


def text_terms(query: str) -> list[str]:
    """The words of a query for the full-text ranking (every one must occur)."""
    return list(dict.fromkeys(re.findall(r"[a-z0-9]+", query.lower())))[:8]


def rerank_words(query: str) -> list[str]:
    """The words of a query that re-rank the vector candidates (stop words left out), at most 8."""
    return [word for word in text_terms(query) if word not in _STOP_WORDS]


# --- the statement -------------------------------------------------------------------------------

# A branch's live manifest rows, with the branch (from `scope`) aliased `s`.
_LIVE = "f.born_generation <= s.live_generation AND (f.retired_generation IS NULL OR f.retired_generation > s.live_generation)"


@dataclass
class _Statement:
    """The one statement that searches a group of branches of one model."""

    group: _Group
    literal: str  # the query's vector
    query: str
    limit: int  # candidates each ranking contributes
    filters: _Filters

    def run(self, k: int, *, exact: bool) -> list[tuple]:
        """(chunk id, path, start, end, score, text, commit, branch, branch id, fused), best first."""
        walk = 2 * self.limit
        while True:
            rows, found = self._execute(self._sql(exact=exact, walk=walk, k=k))
            if exact or found >= self.limit:
                return rows
            # The HNSW walk found too few chunks in the scope (vectors of the tenants' other
            # branches, a selective filter): walk further, then give up and scan exactly.
            if walk >= 16 * self.limit:
                exact = True
            walk *= 8

    def nearest_only(self, *, exact: bool) -> list[int]:
        sql = self._sql(exact=exact, walk=2 * self.limit, k=0, nearest_only=True)
        rows, _ = self._execute(sql)
        return [row[0] for row in rows]

    def _execute(self, sql: tuple[str, dict]) -> tuple[list[tuple], int]:
        text, params = sql
        with connection.cursor() as cursor:
            cursor.execute(text, params)
            if text.startswith(_SETTINGS):
                cursor.nextset()
            rows = cursor.fetchall()
        found = rows[0][-1] if rows else 0
        return [row[:-1] for row in rows], found

    def _sql(self, *, exact: bool, walk: int, k: int, nearest_only: bool = False) -> tuple[str, dict]:
        group, dims = self.group, int(self.group.dimensions)
        terms, names = text_terms(self.query), identifiers(self.query)
        params = {
            "syncs": group.sync_ids, "projects": group.project_ids, "tenants": group.tenant_ids,
            "q": self.literal, "limit": self.limit, "walk": walk, "k": k,
            "tsquery": " & ".join(terms), "terms": terms, "names": names, "likes": [f"%{term}%" for term in terms],  # [a-z0-9]+: no wildcard
            "rank_max": TEXT_RANK_MAX, "match_max": MATCH_MAX, "pending_max": PENDING_TEXT_MAX, "rrf_k": RRF_K, "weights": list(WEIGHTS),
            "rerank": RERANK_WEIGHT, "k1": BM25_K1, "b": BM25_B,
            "hub": HUB_WEIGHT, "hub_pool": HUB_POOL, "hub_neighbours": HUB_NEIGHBOURS,
            "ef": str(min(max(settings.NYXSYNC_SEARCH_EF, walk), 1000)),  # pgvector's bound; the iterative scan walks past it
        }  # fmt: skip
        # The filters' own %s placeholders, by name.
        filters = self.filters.sql
        for n, value in enumerate(self.filters.params):
            filters = filters.replace("%s", f"%(filter{n})s", 1)
            params[f"filter{n}"] = value
        distance = f"(v.embedding::vector({dims}) <=> %(q)s::vector({dims}))"
        model_id = int(group.model_id)
        if exact:
            # The scope is small: scan it all (sorting a subquery's column keeps the planner off
            # the HNSW index, and computes each distance once). The branches' files through their
            # own index (the literal ids: a join on the scope alone left the planner a walk of every
            # tenant's files), each chunk's vector by its key (LATERAL: one index lookup per
            # chunk, never a scan of every tenant's vectors, however the planner weighs the table).
            nearest = f"""
                SELECT id, distance, embedding FROM (
                    SELECT c.id, {distance} AS distance, v.embedding::vector({dims}) AS embedding
                    FROM scope s
                    JOIN embeddings_sourcefile f ON f.project_sync_id = s.id AND f.project_sync_id = ANY(%(syncs)s) AND {_LIVE}{filters}
                    JOIN embeddings_chunk c ON c.file_id = f.id
                    JOIN LATERAL (
                        SELECT v.embedding FROM embeddings_vector v
                        WHERE v.model_id = {model_id} AND v.tenant_id = s.tenant_id AND v.content_hash = c.content_hash LIMIT 1
                    ) v ON true
                    OFFSET 0
                ) scanned
                ORDER BY distance, id LIMIT %(limit)s"""
        else:
            # The walk reads only vectors (one table, ORDER BY distance LIMIT: always the index),
            # keeps the scope's tenants' (iterative scan: it walks on until enough pass), then
            # finds their chunks in the scope. Relaxed order: sorted again here. Beside it, the
            # tenants' pending vectors (written since the indexer last ran, not in the index yet:
            # embeddings.vectors), read exactly through their own small index.
            nearest = f"""
                SELECT c.id, nv.distance, nv.embedding
                FROM (
                    (SELECT v.tenant_id, v.content_hash, {distance} AS distance, v.embedding::vector({dims}) AS embedding
                     FROM embeddings_vector v
                     WHERE v.model_id = {model_id} AND v.indexed AND v.tenant_id = ANY(%(tenants)s)
                     ORDER BY {distance} LIMIT %(walk)s)
                    UNION ALL
                    (SELECT v.tenant_id, v.content_hash, {distance} AS distance, v.embedding::vector({dims}) AS embedding
                     FROM embeddings_vector v
                     WHERE v.model_id = {model_id} AND NOT v.indexed AND v.tenant_id = ANY(%(tenants)s)
                     ORDER BY {distance} LIMIT %(walk)s)
                ) nv
                JOIN scope s ON s.tenant_id = nv.tenant_id
                JOIN embeddings_chunk c ON c.project_id = s.project_id AND c.content_hash = nv.content_hash
                JOIN embeddings_sourcefile f ON f.id = c.file_id AND f.project_sync_id = s.id AND {_LIVE}{filters}
                ORDER BY nv.distance, c.id LIMIT %(limit)s"""
        scope = """
            scope AS MATERIALIZED (
                SELECT ps.id, ps.project_id, ps.live_generation, ps.live_commit, ps.branch, p.owner_id AS tenant_id
                FROM project_syncs ps JOIN projects_project p ON p.id = ps.project_id
                WHERE ps.id = ANY(%(syncs)s) AND ps.live_generation > 0
            ),
            nearest AS MATERIALIZED ({nearest})"""
        if nearest_only:
            sql = f"WITH {scope.format(nearest=nearest)} SELECT id, 0 FROM nearest ORDER BY distance, id"
        else:
            fusion = _FUSION.format(dims=dims, model_id=model_id)
            params["words"] = rerank_words(self.query)
            rerank = self._reranked()
            sql = f"WITH {scope.format(nearest=nearest)}, {rerank}, {self._text_and_definitions(terms, names, filters)}, {fusion}"
        return _SETTINGS + sql, params

    @staticmethod
    def _reranked() -> str:
        # Each candidate's BM25 from its stored text vector, the words' document frequencies
        # counted among the candidates: what tells them apart is what only some of them hold
        # (as good on CoSQA as frequencies over the whole scope, and no index lookups).
        # A chunk whose text vector is not written yet (embeddings.text_search) gets it computed
        # here, once: a few dozen candidates.
        return f"""
            nearest_vectors AS MATERIALIZED (
                SELECT n.id, coalesce(c.text_search, {text_search_sql("c.text")}) AS text_search
                FROM nearest n JOIN embeddings_chunk c ON c.id = n.id
            ),
            nearest_words AS MATERIALIZED (
                SELECT c.id, w.term, d.length, coalesce(d.counts[array_position(d.lexemes, w.term)], 0)::float8 AS tf
                FROM nearest_vectors c
                CROSS JOIN LATERAL (
                    -- Each text vector read once: its length, and the count of each query word it holds.
                    SELECT coalesce(sum(cardinality(u.positions)), 0)::float8 AS length,
                           array_agg(u.lexeme) FILTER (WHERE u.lexeme = ANY(%(words)s::text[])) AS lexemes,
                           array_agg(cardinality(u.positions)) FILTER (WHERE u.lexeme = ANY(%(words)s::text[])) AS counts
                    FROM unnest(c.text_search) u
                ) d
                CROSS JOIN unnest(%(words)s::text[]) AS w(term)
            ),
            word_counts AS (
                SELECT term, count(*) FILTER (WHERE tf > 0)::float8 AS df FROM nearest_words GROUP BY term
            ),
            nearest_bm25 AS MATERIALIZED (
                SELECT w.id, sum(
                    ln(1 + (a.candidates - t.df + 0.5) / (t.df + 0.5)) * w.tf * (%(k1)s + 1)
                    / (w.tf + %(k1)s * (1 - %(b)s + %(b)s * w.length / a.length))
                ) AS bm25
                FROM nearest_words w
                JOIN word_counts t ON t.term = w.term
                CROSS JOIN (
                    SELECT greatest(avg(length), 1) AS length, count(*)::float8 AS candidates
                    FROM (SELECT DISTINCT id, length FROM nearest_words) l
                ) a
                WHERE w.tf > 0
                GROUP BY w.id
            ),
            -- Hubness (HUB_WEIGHT): every pair of the pool, each chunk's HUB_NEIGHBOURS nearest.
            hub_pool AS MATERIALIZED (
                SELECT id, embedding FROM nearest ORDER BY distance, id LIMIT %(hub_pool)s
            ),
            hub_pairs AS (
                SELECT a.id, 1 - (a.embedding <=> b.embedding) AS similarity FROM hub_pool a JOIN hub_pool b ON b.id <> a.id
            ),
            nearest_hubness AS MATERIALIZED (
                SELECT id, avg(similarity) AS hubness FROM (
                    SELECT id, similarity, row_number() OVER (PARTITION BY id ORDER BY similarity DESC) AS nth FROM hub_pairs
                ) p
                WHERE nth <= %(hub_neighbours)s
                GROUP BY id
            ),
            nearest_ranked AS (
                SELECT n.id, row_number() OVER (
                    ORDER BY n.id NOT IN (SELECT id FROM hub_pool),
                             (1 - n.distance) + %(rerank)s * coalesce(b.bm25 / t.best, 0) - %(hub)s * coalesce(h.hubness, 0) DESC,
                             n.distance, n.id
                ) AS rank
                FROM nearest n
                LEFT JOIN nearest_bm25 b ON b.id = n.id
                LEFT JOIN nearest_hubness h ON h.id = n.id
                CROSS JOIN (SELECT nullif(max(bm25), 0) AS best FROM nearest_bm25) t
            )"""

    @staticmethod
    def _text_and_definitions(terms: list[str], names: list[str], filters: str) -> str:
        # Each match runs first on its own, on embeddings_chunk_scope (see the module's docstring)
        # and the projects searched: the GIN index, or the projects' own chunks, whichever the
        # planner finds cheaper, never a walk of the scope's files testing every chunk. At most
        # MATCH_MAX are taken: words or names that common in these projects say little.
        # Chunks whose text vector is not written yet (embeddings.text_search) are matched from
        # their text, found through their own small index (chunk_text_pending, a leakproof
        # condition: usable under row-level security on the table itself), at most
        # PENDING_TEXT_MAX of them; the text must hold every word (LIKE) before its vector is
        # computed.
        text_match = "c.text_search @@ to_tsquery('simple', %(tsquery)s)" if terms else "false"
        pending_vector = text_search_sql("c.text")
        pending_match = f"lower(c.text) LIKE ALL(%(likes)s) AND {pending_vector} @@ to_tsquery('simple', %(tsquery)s)" if terms else "false"
        names_match = "c.symbols && %(names)s::varchar(200)[]" if names else "false"
        live = f"JOIN embeddings_sourcefile f ON f.id = m.file_id JOIN scope s ON s.id = f.project_sync_id AND {_LIVE}{filters}"
        return f"""
            text_found AS MATERIALIZED (
                (SELECT c.id, c.file_id, c.text_search FROM embeddings_chunk_scope c
                 WHERE c.project_id = ANY(%(projects)s) AND {text_match} LIMIT %(match_max)s + 1)
                UNION ALL
                (SELECT c.id, c.file_id, {pending_vector} FROM (
                     SELECT c.id, c.file_id, c.text FROM embeddings_chunk c
                     WHERE c.project_id = ANY(%(projects)s) AND c.text_search IS NULL LIMIT %(pending_max)s
                 ) c
                 WHERE {pending_match} LIMIT %(match_max)s + 1)
            ),
            text_matches AS MATERIALIZED (
                SELECT m.id, m.text_search FROM text_found m {live}
                WHERE (SELECT count(*) FROM text_found) <= %(match_max)s
                LIMIT %(rank_max)s + 1
            ),
            text_ranked AS (
                -- How often the words occur, per word of the chunk, from the stored text vector.
                SELECT m.id, row_number() OVER (ORDER BY d.density DESC, m.id) AS rank
                FROM text_matches m,
                     LATERAL (
                         SELECT coalesce(sum(cardinality(u.positions)) FILTER (WHERE u.lexeme = ANY(%(terms)s)), 0)::float8
                                / greatest(coalesce(sum(cardinality(u.positions)), 0), 1) AS density
                         FROM unnest(m.text_search) u
                     ) d
                WHERE (SELECT count(*) FROM text_matches) <= %(rank_max)s
            ),
            definitions_found AS MATERIALIZED (
                SELECT c.id, c.file_id FROM embeddings_chunk_scope c
                WHERE c.project_id = ANY(%(projects)s) AND {names_match} LIMIT %(match_max)s + 1
            ),
            definitions AS MATERIALIZED (
                SELECT m.id, row_number() OVER (ORDER BY length(t.text), m.id) AS rank
                FROM definitions_found m
                JOIN embeddings_chunk t ON t.id = m.id
                {live}
                WHERE (SELECT count(*) FROM definitions_found) <= %(match_max)s
                ORDER BY length(t.text), m.id LIMIT %(limit)s
            )"""


# Settings for this statement only (the implicit transaction of one multi-statement call): the
# HNSW walk's breadth and its iterative scan; and no sequential scan. Every step has an index for
# the caller's scope; a scope that is most of the table makes the planner reach for a scan of the
# chunk table, which costs as much as the table holds, every tenant's rows included.
_SETTINGS = (
    "SELECT set_config('hnsw.ef_search', %(ef)s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true), "
    "set_config('enable_seqscan', 'off', true);\n"
)

# Reciprocal rank fusion of the three rankings, then the rows of the k best. Ties keep the order
# in which a chunk first appears: vectors, then words, then definitions.
_FUSION = """
    ranked AS (
        SELECT id, 1 AS kind, rank FROM nearest_ranked
        UNION ALL SELECT id, 2, rank FROM text_ranked WHERE rank <= %(limit)s
        UNION ALL SELECT id, 3, rank FROM definitions
    ),
    fused AS (
        SELECT id, sum((%(weights)s::float8[])[kind] / (%(rrf_k)s + rank)) AS fused, min(kind * 1000000 + rank) AS first_seen
        FROM ranked GROUP BY id
        ORDER BY fused DESC, first_seen LIMIT %(k)s
    )
    SELECT c.id, f.path, c.start_line, c.end_line,
           coalesce(1 - (v.embedding::vector({dims}) <=> %(q)s::vector({dims})), 0), c.text,
           s.live_commit, s.branch, s.id, fu.fused, (SELECT count(*) FROM nearest)
    FROM fused fu
    JOIN embeddings_chunk c ON c.id = fu.id
    JOIN embeddings_sourcefile f ON f.id = c.file_id
    JOIN scope s ON s.id = f.project_sync_id
    LEFT JOIN embeddings_vector v ON v.model_id = {model_id} AND v.tenant_id = s.tenant_id AND v.content_hash = c.content_hash
    ORDER BY fu.fused DESC, fu.first_seen
"""
