"""The indexer's task: queued after each swap that stored vectors, and on beat's schedule as a
safety net; it moves the pending vectors into their model's HNSW index."""

import pytest
from django.conf import settings

from embeddings.models import Vector
from syncs import services
from syncs.models import SyncRun
from syncs.tasks import index_vectors
from tests.syncs.test_worker import finished, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_owner")]


def repo_of(make_repo, files: int):
    repo = make_repo()
    for n in range(files):
        repo.write(f"pkg/m{n}.py", f"def handler_{n}(request):\n    return respond(request, status={n})\n")
    repo.commit()
    return repo


@pytest.mark.worker
def test_a_worker_indexes_a_sync_s_vectors_after_its_swap(celery_worker, make_repo, link, git_cache, hashing_index):
    run, created = services.sync_run_enqueue(project_sync=link(repo_of(make_repo, 40)), trigger=SyncRun.Trigger.API)
    assert created
    assert finished(run).status == SyncRun.Status.SUCCEEDED, run.error

    vectors = Vector.objects.filter(model=hashing_index)
    assert vectors.count() == 40
    wait_for(lambda: not vectors.filter(indexed=False).exists(), timeout=30, what="the indexer after the swap")


def test_beat_runs_the_indexer_every_minute_and_the_task_moves_pending_vectors(make_repo, link, sync_now, hashing_index):
    entry = next(entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == index_vectors.name)
    assert entry["schedule"] == 60.0
    assert sync_now(link(repo_of(make_repo, 12))).status == SyncRun.Status.SUCCEEDED
    pending = Vector.objects.filter(model=hashing_index, indexed=False)
    assert pending.count() == 12  # in process: no worker took the swap's task

    index_vectors.run()

    assert not pending.exists()


def _queued_index_calls() -> int:
    """How many index_vectors messages wait in the tests' queue (real Redis), removing them."""
    from nyxsync.celery import app

    calls = 0
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE)
        while True:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                break
            calls += message.headers.get("task") == index_vectors.name
            message.ack()
        queue.close()
    return calls


def test_an_indexer_call_stops_at_its_slice_and_queues_the_next_behind_other_work(make_repo, link, sync_now, hashing_index, settings):
    assert sync_now(link(repo_of(make_repo, 12))).status == SyncRun.Status.SUCCEEDED
    pending = Vector.objects.filter(model=hashing_index, indexed=False)
    _queued_index_calls()  # the swap's own call: not this test's subject

    settings.NYXSYNC_INDEX_SLICE_SECONDS = 0  # the slice is over before the first batch
    index_vectors.run()
    assert pending.count() == 12
    assert _queued_index_calls() == 1  # the next call waits its turn in the queue

    settings.NYXSYNC_INDEX_SLICE_SECONDS = 10
    index_vectors.run()
    assert not pending.exists()
    assert _queued_index_calls() == 0  # done within its slice: nothing more to do
