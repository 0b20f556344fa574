"""Every statement a search runs reaches the caller's chunks through an index, under row-level
security, whatever other tenants hold: EXPLAIN of each one as the app's role, acting for the
user, shows no sequential scan of the chunk table. Two tenants: a small project of ours beside a
large one of someone else's (the exact vector scan), and the large one's own search (the HNSW
walk); words, an identifier, and filters; with the chunks' text vectors still pending (a branch
just synced) and written (after the pass)."""

import json
import random

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from embeddings.chunking import Chunk as ChunkPiece
from embeddings.manifest import StagedFile, manifest_stage
from embeddings.search import search
from embeddings.text_search import chunks_text_search_fill
from embeddings.vectors import (
    embedding_model_register,
    vector_index_definition,
    vector_index_name,
    vectors_write,
)
from nyxsync import tenancy
from syncs.models import ProjectSync
from syncs.services import project_link
from tests.factories import sha256

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]
WORDS = "parse config file value total invoice request handler cache token stream branch commit render".split()


def staged_files(prefix: str, chunks: int, rng: random.Random) -> list[StagedFile]:
    files = []
    for n in range(0, chunks, 10):
        pieces = []
        for ordinal in range(10):
            words = " ".join(rng.choices(WORDS, k=12)) + (" zebra" if (n + ordinal) % 997 == 0 else "")
            text = f"def {prefix}_function_{n + ordinal}(value):\n    # {words}\n    return value + {n + ordinal}\n"
            pieces.append(ChunkPiece(ordinal, 1 + 3 * ordinal, 3 + 3 * ordinal, text, sha256(text)))
        language = "markdown" if n % 50 == 0 else "python"
        files.append(StagedFile(f"src/{prefix}/module_{n}.{'md' if language == 'markdown' else 'py'}", f"{n:040x}", 400, language, "", pieces))
    return files


def load(user, name: str, chunks: int, model, rng) -> ProjectSync:
    sync = project_link(owner=user, repository=f"git://127.0.0.1:9/{name}.git", branch="main", name=name)
    files = staged_files(name, chunks, rng)
    manifest_stage(sync, generation=1, retire_ids=[], files=files)
    hashes = [piece.content_hash for file in files for piece in file.chunks]
    vectors = np.random.default_rng(len(hashes)).standard_normal((len(hashes), model.dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors_write(model, hashes, vectors, tenant_id=user.pk)
    ProjectSync.objects.filter(pk=sync.pk).update(live_generation=1, live_chunk_count=len(hashes), embedding_model=model.name)
    sync.refresh_from_db()
    return sync


PENDING, WRITTEN = "text vectors pending", "text vectors written"


@pytest.fixture
def two_tenants(request, django_user_model, owner_sql, fast_model):
    from embeddings.backends import get_backend

    backend = get_backend("hashing-256")
    model = embedding_model_register(name=backend.name, backend=backend.backend, dimensions=backend.dimensions)
    rng = random.Random(5)
    me, them = django_user_model.objects.create_user("me"), django_user_model.objects.create_user("them")
    mine, theirs = load(me, "mine", 300, model, rng), load(them, "theirs", 10_000, model, rng)
    # The HNSW index as migrate builds it on a populated database (every vector indexed: quicker
    # than the indexer's inserts), and statistics as autovacuum keeps them.
    owner_sql("UPDATE embeddings_vector SET indexed = true")
    state = getattr(request, "param", PENDING)  # as a sync leaves them, or after the pass (embeddings.text_search)
    if state == WRITTEN:
        chunks_text_search_fill()
    owner_sql(f"CREATE INDEX IF NOT EXISTS {vector_index_name(model)} {vector_index_definition(model)}")
    owner_sql("ANALYZE embeddings_chunk, embeddings_sourcefile, embeddings_vector, project_syncs, projects_project")
    return {"me": me, "them": them, "mine": mine, "theirs": theirs, "pending": state == PENDING}


def plans_of_a_search(user, sync, **search_options) -> tuple[list, list[dict]]:
    """The hits of a search as `user`, and the plan of every statement it ran, explained on the
    same connection (the app's role, acting for the user, with the statement's own settings)."""
    with tenancy.acting_as(user):
        with CaptureQueriesContext(connection) as captured:
            hits = search(project_syncs=[sync], **search_options)
        plans = []
        with connection.cursor() as cursor:
            for query in captured.captured_queries:
                # The statement's own settings hold for the call they are sent in: send them along.
                settings_part, _, statement = query["sql"].rpartition(";\n")
                cursor.execute(f"{settings_part};\nEXPLAIN (FORMAT JSON) {statement}" if settings_part else f"EXPLAIN (FORMAT JSON) {statement}")
                if settings_part:
                    cursor.nextset()
                explained = cursor.fetchone()[0]  # JSON, decoded by psycopg
                plans.append((json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"])
    return hits, plans


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def scans_of(plans: list[dict], relation: str) -> list[str]:
    """How each plan reads `relation`: "Seq Scan", "Index Scan using x", "Bitmap Heap Scan using x, y"."""
    scans = []
    for plan in plans:
        for node in nodes(plan):
            if node.get("Relation Name") != relation:
                continue
            indexes = [node["Index Name"]] if "Index Name" in node else [n["Index Name"] for n in nodes(node) if "Index Name" in n]
            scans.append(node["Node Type"] + (f" using {', '.join(indexes)}" if indexes else ""))
    return scans


QUERIES = [
    {"query": "parse config file value"},  # words: the full-text ranking
    {"query": "mine_function_42"},  # an identifier: its definition
    {"query": "total invoice", "path_glob": "src/**/*.py", "language": "python"},
    {"query": "zebra handler"},  # a rare word
]


@pytest.mark.parametrize(
    ("two_tenants", "options"), [*((PENDING, query) for query in QUERIES), (WRITTEN, QUERIES[0]), (WRITTEN, QUERIES[2])], indirect=["two_tenants"]
)
def test_a_small_project_beside_a_large_tenant_is_searched_through_indexes(two_tenants, options):
    hits, plans = plans_of_a_search(two_tenants["me"], two_tenants["mine"], k=10, **options)

    assert len(plans) == 2  # two round trips: the branches, then the search
    assert hits and {hit.project_sync_id for hit in hits} == {two_tenants["mine"].pk}
    chunk_scans = scans_of(plans, "embeddings_chunk")
    assert chunk_scans and not [scan for scan in chunk_scans if scan.startswith("Seq Scan")], chunk_scans
    assert "Seq Scan" not in scans_of(plans, "embeddings_vector"), scans_of(plans, "embeddings_vector")
    if two_tenants["pending"] and options == QUERIES[0]:  # words found from the text of the scope's pending chunks
        assert any("chunk_text_pending" in scan for scan in chunk_scans), chunk_scans
        assert any(hit.fused > 1 / 61 and all(word in hit.text for word in options["query"].split()) for hit in hits)


@pytest.mark.parametrize(
    ("two_tenants", "options"), [(PENDING, QUERIES[0]), (PENDING, QUERIES[1]), (PENDING, QUERIES[3]), (WRITTEN, QUERIES[0])], indirect=["two_tenants"]
)
def test_a_large_project_walks_the_vector_index(two_tenants, options, settings):
    settings.NYXSYNC_SEARCH_EXACT_MAX_CHUNKS = 5_000
    hits, plans = plans_of_a_search(two_tenants["them"], two_tenants["theirs"], k=10, **options)

    assert hits and {hit.project_sync_id for hit in hits} == {two_tenants["theirs"].pk}
    chunk_scans = scans_of(plans, "embeddings_chunk")
    assert not [scan for scan in chunk_scans if scan.startswith("Seq Scan")], chunk_scans
    assert any("embeddings_vector_hnsw" in scan for scan in scans_of(plans, "embeddings_vector")), scans_of(plans, "embeddings_vector")


def test_vectors_written_since_the_indexer_ran_are_read_through_their_own_index(two_tenants, django_user_model, settings):
    settings.NYXSYNC_SEARCH_EXACT_MAX_CHUNKS = 100  # our 300 + 200 chunks walk the HNSW index
    model = embedding_model_register(name="hashing-256", backend="hashing", dimensions=256)
    fresh = load(two_tenants["me"], "fresh", 200, model, random.Random(6))  # pending: not indexed yet
    hits, plans = plans_of_a_search(two_tenants["me"], fresh, k=10, query="parse config file value")

    assert hits and {hit.project_sync_id for hit in hits} == {fresh.pk}
    # Our indexed vectors through the HNSW index or (as few as ours are) our tenant's btree.
    vector_scans = scans_of(plans, "embeddings_vector")
    assert any("vector_pending" in scan for scan in vector_scans), vector_scans
    assert "Seq Scan" not in vector_scans, vector_scans
    assert not [scan for scan in scans_of(plans, "embeddings_chunk") if scan.startswith("Seq Scan")]
