"""Vectors are written pending, outside their model's HNSW index, and the indexer moves them in
afterwards (embeddings.vectors): a search finds a vector written moments ago, before it is
indexed, with the same results as once it is, and never another tenant's."""

import random

import psycopg
import pytest
from django.db import connection

from embeddings.backends import get_backend
from embeddings.chunking import Chunk as ChunkPiece
from embeddings.manifest import StagedFile, manifest_stage
from embeddings.models import Chunk, EmbeddingModel, Vector
from embeddings.search import nearest_chunks, search
from embeddings.vectors import (
    _INDEXER_LOCK,
    vectors_index_pending,
    vectors_write,
)
from nyxsync import tenancy
from syncs.models import ProjectSync
from syncs.services import project_link
from tests.factories import sha256

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]
WORDS = "parse config file value total invoice request handler cache token stream branch commit render".split()
FRESH = "def fresh_quokka_marmalade(jar):\n    # spread the quokka marmalade on toast\n    return jar.spread()\n"


def texts(prefix: str, count: int, rng: random.Random) -> list[str]:
    return [f"def {prefix}_{n}(value):\n    # {' '.join(rng.choices(WORDS, k=10))}\n    return value + {n}\n" for n in range(count)]


def load(user, name: str, chunk_texts: list[str], model) -> ProjectSync:
    """A live branch of `user` whose chunks are `chunk_texts` (one file each), with their real
    hashing-256 vectors written as a sync writes them: pending."""
    sync = project_link(owner=user, repository=f"git://127.0.0.1:9/{name}.git", branch="main", name=name)
    files = [
        StagedFile(f"src/{name}/m{n}.py", f"{n:040x}", len(text), "python", "", [ChunkPiece(0, 1, 3, text, sha256(text))])
        for n, text in enumerate(chunk_texts)
    ]
    manifest_stage(sync, generation=1, retire_ids=[], files=files)
    vectors_write(model, [sha256(text) for text in chunk_texts], get_backend(model.name).embed(chunk_texts), tenant_id=user.pk)
    ProjectSync.objects.filter(pk=sync.pk).update(live_generation=1, live_chunk_count=len(chunk_texts), embedding_model=model.name)
    sync.refresh_from_db()
    return sync


@pytest.fixture
def model(hashing_index):
    return hashing_index


@pytest.fixture
def me(django_user_model):
    return django_user_model.objects.create_user("me")


@pytest.fixture
def them(django_user_model):
    return django_user_model.objects.create_user("them")


def chunk_id(sync, text: str) -> int:
    return Chunk.objects.get(project_id=sync.project_id, content_hash=sha256(text)).pk


def test_it_writes_vectors_pending_and_moves_them_into_the_index_in_batches(model, me):
    load(me, "mine", texts("mine", 400, random.Random(1)), model)
    assert Vector.objects.filter(model=model, indexed=False).count() == 400

    assert vectors_index_pending(batch_size=150).moved == 400
    assert not Vector.objects.filter(model=model, indexed=False).exists()
    assert vectors_index_pending().moved == 0


def test_a_pass_that_runs_out_of_time_says_vectors_are_left(model, me):
    load(me, "mine", texts("mine", 30, random.Random(7)), model)

    stopped = vectors_index_pending(batch_size=10, seconds=0)
    assert (stopped.moved, stopped.more) == (0, True)
    finished = vectors_index_pending(batch_size=10)
    assert (finished.moved, finished.more) == (30, False)


def test_a_model_without_its_index_keeps_its_vectors_pending(model, me):
    load(me, "mine", texts("mine", 20, random.Random(2)), model)
    unindexed = EmbeddingModel.objects.create(name="no-index-8", backend="hashing", dimensions=8)
    vectors_write(unindexed, ["a" * 64, "b" * 64], [[1.0] * 8, [0.5] * 8], tenant_id=me.pk)

    assert vectors_index_pending().moved == 20
    assert Vector.objects.filter(model=unindexed, indexed=False).count() == 2


def test_one_indexer_at_a_time(model, me):
    load(me, "mine", texts("mine", 30, random.Random(3)), model)
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or None, user=db["USER"], dbname=db["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [_INDEXER_LOCK])  # another worker's indexer
        assert vectors_index_pending().moved == 0
        other.execute("SELECT pg_advisory_unlock(%s)", [_INDEXER_LOCK])
    assert Vector.objects.filter(model=model, indexed=False).count() == 30
    assert vectors_index_pending().moved == 30


def test_a_search_finds_a_vector_written_moments_ago_before_it_is_indexed_and_never_another_tenants(model, me, them, settings):
    settings.NYXSYNC_SEARCH_EXACT_MAX_CHUNKS = 50  # every scope here walks the HNSW index
    rng = random.Random(4)
    mine, theirs = load(me, "mine", texts("mine", 400, rng), model), load(them, "theirs", texts("theirs", 400, rng), model)
    assert vectors_index_pending().moved == 800
    # Moments ago: the same text in a new branch of each tenant, both pending.
    fresh = load(me, "fresh", [FRESH, *texts("fresh", 60, rng)], model)
    their_copy = load(them, "copy", [FRESH], model)
    assert Vector.objects.filter(indexed=False).count() == 62
    scope, mine_id, theirs_id = [mine, fresh], chunk_id(fresh, FRESH), chunk_id(their_copy, FRESH)

    def nearest(*, exact: bool) -> list[int]:
        return nearest_chunks(project_syncs=scope, query=FRESH, limit=20, exact=exact)

    # The statement's own tenant filter (acting as the system, row-level security lets all pass)
    # and both walls together (acting as the user).
    for acting in (tenancy.dangerously_as_system, lambda: tenancy.acting_as(me)):
        with acting():
            walked = nearest(exact=False)
            assert walked[0] == mine_id
            assert theirs_id not in walked
            assert walked == nearest(exact=True)  # results as an exact scan gives them
            hits = search(project_syncs=scope, query=FRESH, k=5)
            assert (hits[0].path, hits[0].project_sync_id) == ("src/fresh/m0.py", fresh.pk)
    with tenancy.acting_as(them):
        hits = search(project_syncs=[theirs, their_copy], query=FRESH, k=5)
        assert (hits[0].path, hits[0].project_sync_id) == ("src/copy/m0.py", their_copy.pk)
        assert {hit.project_sync_id for hit in hits} <= {theirs.pk, their_copy.pk}

    # Once indexed, the same results through the index alone.
    assert vectors_index_pending().moved == 62
    assert nearest(exact=False) == walked


def test_search_results_are_the_same_before_and_after_indexing(model, me, them, settings):
    settings.NYXSYNC_SEARCH_EXACT_MAX_CHUNKS = 50
    rng = random.Random(5)
    mine = load(me, "mine", texts("mine", 500, rng), model)
    load(them, "theirs", texts("theirs", 500, rng), model)
    queries = ["parse config value", "mine_42", "invoice total cache token", "render the stream of a commit"]

    def results() -> list[list[tuple]]:
        with tenancy.acting_as(me):
            return [[(hit.path, hit.start_line, round(hit.score, 5)) for hit in search(project_syncs=[mine], query=q, k=10)] for q in queries]

    pending = results()
    assert vectors_index_pending().moved == 1000
    assert results() == pending
    assert all(pending)
