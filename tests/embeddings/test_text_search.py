"""Chunks' text vectors are written after the swap (embeddings.text_search): a branch is
searchable by words at once, before the pass and after it; a pass stopped, killed or beside a
failed run loses nothing, and the next one resumes; chunks not swapped in yet wait for their swap."""

import psycopg
import pytest
from django.db import connection

from embeddings.manifest import StagedFile, manifest_stage_files
from embeddings.models import Chunk
from embeddings.search import RRF_K, WEIGHTS, search
from embeddings.text_search import chunks_text_search_fill, text_search_sql
from nyxsync import tenancy
from nyxsync.locks import TEXT_INDEXER, advisory_key
from syncs.models import SyncRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_owner")]
# The most a hit gets from the vector ranking alone: more means the words found it too.
VECTOR_ALONE = WEIGHTS[0] / (RRF_K + 1)


def synced(make_repo, link, sync_now, files: int):
    repo = make_repo()
    for n in range(files):
        # Every file a word of its own (in a comment: no definition of that name).
        repo.write(f"pkg/m{n}.py", f"def handler_{n}(request):\n    # quokka{n} lives here\n    return respond(request, status={n})\n")
    repo.commit()
    sync = link(repo)
    assert sync_now(sync).status == SyncRun.Status.SUCCEEDED
    return repo, sync


def fill(**options):
    with tenancy.dangerously_as_system():
        return chunks_text_search_fill(**options)


def found_by_words(sync, word: str) -> list[str]:
    """The paths the query's words found (beside the vector ranking), best first."""
    return [hit.path for hit in search(project_syncs=[sync], query=word, k=5) if hit.fused > VECTOR_ALONE]


def pending(sync) -> int:
    return Chunk.objects.filter(project_id=sync.project_id, text_search__isnull=True).count()


def test_a_branch_is_searchable_by_words_before_and_after_its_text_vectors_are_written(make_repo, link, sync_now):
    _, sync = synced(make_repo, link, sync_now, 30)
    assert pending(sync) == 30  # the sync wrote no text vector

    assert found_by_words(sync, "quokka7") == ["pkg/m7.py"]
    assert found_by_words(sync, "quokka7 respond") == ["pkg/m7.py"]  # every word, from the text
    assert found_by_words(sync, "quokka7 zebra") == []  # a word no chunk holds

    assert fill() == (30, False)

    assert pending(sync) == 0
    assert found_by_words(sync, "quokka7") == ["pkg/m7.py"]
    assert found_by_words(sync, "quokka7 zebra") == []
    with connection.cursor() as cursor:  # the vectors the pass wrote are the ones search computed meanwhile
        cursor.execute(f"SELECT count(*) FROM embeddings_chunk WHERE project_id = %s AND text_search <> {text_search_sql()}", [sync.project_id])
        assert cursor.fetchone()[0] == 0


def test_a_search_reads_at_most_pending_text_max_pending_chunks_and_all_once_written(make_repo, link, sync_now, monkeypatch):
    _, sync = synced(make_repo, link, sync_now, 30)
    monkeypatch.setattr("embeddings.search.PENDING_TEXT_MAX", 10)  # a big sync's backlog, in small

    found_pending = [n for n in range(30) if found_by_words(sync, f"quokka{n}") == [f"pkg/m{n}.py"]]
    assert fill() == (30, False)
    found_written = [n for n in range(30) if found_by_words(sync, f"quokka{n}") == [f"pkg/m{n}.py"]]

    assert 0 < len(found_pending) <= 10  # the words of the first ten read, the vectors for the rest
    assert found_written == list(range(30))


def test_a_pass_stopped_by_its_slice_or_killed_loses_nothing_and_the_next_resumes(make_repo, link, sync_now, settings, owner_sql):
    _, sync = synced(make_repo, link, sync_now, 25)

    assert fill(seconds=0) == (0, True)  # the slice is over before the first batch: more to do
    assert pending(sync) == 25

    # A pass whose worker dies mid-batch: it holds the pass's lock and has written (not committed)
    # a batch of text vectors when its connection goes.
    db = connection.settings_dict
    owner = (settings.NYXSYNC_MIGRATION_DATABASE or {}).get("USER") or db["USER"]
    killed = psycopg.connect(host=db["HOST"], port=db["PORT"] or None, user=owner, dbname=db["NAME"])
    killed.execute("SELECT pg_advisory_lock(%s)", [advisory_key(TEXT_INDEXER)])
    killed.execute(
        f"UPDATE embeddings_chunk SET text_search = {text_search_sql()} WHERE id IN "
        "(SELECT id FROM embeddings_chunk WHERE project_id = %s LIMIT 10)",
        [sync.project_id],
    )
    try:
        assert fill() == (0, False)  # another pass runs: this one leaves the work to it
        assert found_by_words(sync, "quokka3") == ["pkg/m3.py"]
    finally:
        owner_sql("SELECT pg_terminate_backend(%s)", [killed.info.backend_pid])
        killed.close()

    assert pending(sync) == 25  # the killed batch is undone, nothing half-written
    assert fill() == (25, False)  # its lock went with its connection: the next pass takes all
    assert pending(sync) == 0
    assert found_by_words(sync, "quokka3") == ["pkg/m3.py"]


def test_a_failed_run_after_the_swap_leaves_the_pending_chunks_to_the_pass(make_repo, link, sync_now, settings):
    repo, sync = synced(make_repo, link, sync_now, 20)
    for n in range(20, 40):
        repo.write(f"pkg/m{n}.py", f"def more_{n}(request):\n    return {n}\n")
    repo.commit()
    settings.NYXSYNC_MAX_CHUNKS = 30  # the next run stops in its chunk phase, after staging some chunks
    sync.refresh_from_db()
    run = sync_now(sync)
    assert run.status == SyncRun.Status.FAILED and "NYXSYNC_MAX_CHUNKS" in run.error

    assert pending(sync) == 20  # the live snapshot's chunks, all still pending; the staged ones gone
    assert found_by_words(sync, "quokka12") == ["pkg/m12.py"]
    assert fill() == (20, False)
    assert found_by_words(sync, "quokka12") == ["pkg/m12.py"]


def test_chunks_staged_and_not_swapped_in_wait_for_their_swap(make_repo, link, sync_now):
    _, sync = synced(make_repo, link, sync_now, 5)
    sync.refresh_from_db()
    staged = StagedFile("pkg/new.py", "f" * 40, 10, "python", "", [])
    from embeddings.chunking import chunk_text

    staged.chunks = chunk_text("pkg/new.py", "def staged_only():\n    # wombat\n    return 1\n")
    manifest_stage_files(sync, generation=sync.live_generation + 1, files=[staged])

    assert fill() == (5, False)  # the live chunks only
    assert pending(sync) == 1
    assert found_by_words(sync, "wombat") == []  # invisible until its swap
