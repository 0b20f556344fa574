"""Staging in batches on a writer thread of its own (syncs.staging), forced here with batches of
two files: the snapshot is the same as one staged at once, and a run that stops midway leaves
nothing staged behind, whatever the thread had written."""

import pytest

from embeddings.models import Chunk, SourceFile
from embeddings.search import search
from syncs.models import SyncRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]


@pytest.fixture
def wide_repo(make_repo):
    repo = make_repo()
    for number in range(25):
        repo.write(f"pkg/module_{number}.py", f"def helper_{number}(value):\n    return value * {number}\n\n\nLIMIT_{number} = {number}\n")
    repo.write("assets/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    repo.commit()
    return repo


def snapshot(project_sync) -> set[tuple]:
    rows = Chunk.objects.filter(file__project_sync=project_sync).values_list("file__path", "ordinal", "content_hash", "text_search", "symbols")
    return {(path, ordinal, content_hash, text_search, tuple(symbols or ())) for path, ordinal, content_hash, text_search, symbols in rows}


def test_a_snapshot_staged_in_batches_on_a_thread_is_the_one_staged_at_once(wide_repo, link, sync_now, settings, django_user_model):
    at_once = link(wide_repo, name="at-once")
    assert sync_now(at_once).status == SyncRun.Status.SUCCEEDED
    settings.NYXSYNC_STAGE_BATCH_FILES, settings.NYXSYNC_STAGE_BATCH_CHUNKS = 2, 3
    in_batches = link(wide_repo, name="in-batches", user=django_user_model.objects.create_user("batches"))

    run = sync_now(in_batches)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.files_seen, run.files_skipped, run.chunks_embedded) == (26, 1, 25)  # another tenant: its own vectors
    assert {row[:3] for row in snapshot(in_batches)} == {row[:3] for row in snapshot(at_once)}
    assert snapshot(in_batches) == snapshot(at_once)  # stored text vectors and symbols too
    [hit] = search(project_syncs=[in_batches], query="helper_7", k=1)
    assert hit.path == "pkg/module_7.py"


def test_a_run_that_stops_midway_leaves_nothing_the_thread_staged(wide_repo, link, sync_now, settings):
    settings.NYXSYNC_STAGE_BATCH_FILES, settings.NYXSYNC_STAGE_BATCH_CHUNKS = 2, 3
    settings.NYXSYNC_MAX_CHUNKS = 12  # reached at the 13th file: several batches are written by then
    project_sync = link(wide_repo)

    run = sync_now(project_sync)

    assert (run.status, run.error_phase) == (SyncRun.Status.FAILED, "chunk")
    assert "NYXSYNC_MAX_CHUNKS" in run.error
    assert not SourceFile.objects.filter(project_sync=project_sync).exists() and not Chunk.objects.exists()
