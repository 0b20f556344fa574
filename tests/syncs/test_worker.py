"""The sync through real Celery workers: triggers coalesce, a killed worker loses no snapshot and
no embedding work, a running sync can be cancelled."""

import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from embeddings.models import EmbeddingModel, SourceFile, Vector
from nyxsync import tenancy
from syncs import services
from syncs.models import SyncRun
from syncs.tasks import run_sync

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_owner")]
TENACITY = Path(settings.BASE_DIR) / ".venv/lib/python3.11/site-packages/tenacity"
MINILM = "all-MiniLM-L6-v2"  # torch: slow enough to be killed or cancelled while it embeds


@pytest.fixture(autouse=True)
def torch_model(settings):
    settings.NYXSYNC_EMBEDDING_MODEL = MINILM  # the branches these tests link


def wait_for(predicate, *, timeout=120, every=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def finished(run: SyncRun) -> SyncRun:
    def done():
        run.refresh_from_db()
        return not run.is_active

    wait_for(done, what=f"run {run.uuid} to finish")
    return run


def live_paths(sync) -> set[str]:
    from embeddings.snapshot import visible_at

    sync.refresh_from_db()
    return set(SourceFile.objects.filter(project_sync=sync).filter(visible_at(sync.live_generation)).values_list("path", flat=True))


def minilm_vectors() -> int:
    return Vector.objects.filter(model__name=MINILM).count()


@pytest.fixture
def tenacity_repo(make_repo):
    """A repository whose first commit has one small file and whose second adds a real package
    (enough chunks to take MiniLM several seconds)."""
    repo = make_repo()
    repo.write("README.md", "# tenacity mirror\n\nRetrying library.\n").commit()
    return repo


def test_a_worker_runs_a_triggered_sync(celery_worker, make_repo, link, git_cache, fast_model):
    repo = make_repo()
    repo.write("a.py", "def hello():\n    return 'world'\n").commit()
    run, created = services.sync_run_enqueue(project_sync=link(repo), trigger=SyncRun.Trigger.API)
    assert created
    run = finished(run)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.task_id


def test_the_session_s_worker_runs_nothing_for_a_test_that_did_not_ask_for_it(session_celery_worker, make_repo, link, git_cache, fast_model):
    # A test that triggers a run and executes it itself must not race the shared worker for it.
    repo = make_repo()
    repo.write("a.py", "def hello():\n    return 'world'\n").commit()
    run, created = services.sync_run_enqueue(project_sync=link(repo), trigger=SyncRun.Trigger.API)
    assert created
    time.sleep(3)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.QUEUED


def test_ten_triggers_at_once_run_at_most_two_syncs(celery_worker, make_repo, link, git_cache, fast_model):
    repo = make_repo()
    repo.copy_tree(TENACITY, "tenacity").commit()
    sync = link(repo)
    barrier = threading.Barrier(10)
    runs = []

    def trigger():
        from django.db import connection

        try:
            barrier.wait()
            with tenancy.dangerously_as_system():  # as a verified webhook delivery triggers
                runs.append(services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.WEBHOOK)[0].pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    distinct = SyncRun.objects.filter(pk__in=set(runs))
    assert 1 <= distinct.count() <= 2
    for run in distinct:
        assert finished(run).status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.UP_TO_DATE), run.error
    assert SyncRun.objects.filter(project_sync=sync).count() == distinct.count()


def test_a_killed_worker_keeps_the_live_snapshot_and_its_vectors_are_reused(start_worker, tenacity_repo, link, git_cache):
    queue = f"kill-{uuid.uuid4().hex[:6]}"
    # No fan-out: what this worker stored must be all that was stored when it died.
    no_fanout = {"NYXSYNC_FANOUT_HELPERS": "0"}
    worker = start_worker(queues=queue, extra_env=no_fanout)
    sync = link(tenacity_repo)
    assert sync.embedding_model == MINILM

    def sync_via(queue_name):
        run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
        run_sync.apply_async(args=[run.pk], queue=queue_name)
        return run

    first = finished(sync_via(queue))
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    tenacity_repo.copy_tree(TENACITY, "tenacity").commit()
    before = minilm_vectors()

    doomed = sync_via(queue)
    wait_for(lambda: minilm_vectors() >= before + 32, what="a first batch of vectors")
    worker.kill()
    written = minilm_vectors() - before
    doomed.refresh_from_db()
    assert doomed.status == SyncRun.Status.RUNNING and doomed.phase == "embed"
    assert live_paths(sync) == {"README.md"}  # the previous snapshot, whole

    from embeddings.search import search

    assert {hit.path for hit in search(project_syncs=[sync], query="retry with exponential backoff", k=5)} == {"README.md"}

    start_worker(queues=queue, extra_env=no_fanout)
    retry = finished(sync_via(queue))
    doomed.refresh_from_db()

    assert doomed.status == SyncRun.Status.FAILED and "stopped unexpectedly" in doomed.error
    assert retry.status == SyncRun.Status.SUCCEEDED, retry.error
    total_new = minilm_vectors() - before
    assert retry.chunks_embedded == total_new - written  # nothing embedded twice
    assert "tenacity/__init__.py" in live_paths(sync)
    assert Vector.objects.filter(model=EmbeddingModel.objects.get(name=MINILM)).count() == before + total_new


def test_a_running_sync_can_be_cancelled_and_leaves_the_live_snapshot(celery_worker, tenacity_repo, link, git_cache):
    sync = link(tenacity_repo)
    first, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND)
    assert finished(first).status == SyncRun.Status.SUCCEEDED, first.error
    tenacity_repo.copy_tree(TENACITY, "tenacity").commit()
    before = minilm_vectors()

    run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND)
    wait_for(lambda: minilm_vectors() > before, what="embedding to start")
    services.sync_run_cancel(run)
    run = finished(run)

    assert run.status == SyncRun.Status.CANCELLED and run.error_phase == "embed"
    assert live_paths(sync) == {"README.md"}
    sync.refresh_from_db()
    assert not SourceFile.objects.filter(project_sync=sync, born_generation__gt=sync.live_generation).exists()
    kept = minilm_vectors() - before
    assert kept > 0
    rerun, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND)
    rerun = finished(rerun)
    assert rerun.status == SyncRun.Status.SUCCEEDED, rerun.error
    assert rerun.chunks_embedded == minilm_vectors() - before - kept


def test_a_waiting_run_is_cancelled_at_once(make_repo, link, git_cache, fast_model):
    repo = make_repo()
    repo.write("a.py", "x = 1\n").commit()
    run, _ = services.sync_run_enqueue(project_sync=link(repo), trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    run = services.sync_run_cancel(run).run
    assert run.status == SyncRun.Status.CANCELLED and run.finished_at
    from syncs.pipeline import sync_run_execute

    assert sync_run_execute(run.pk).status == SyncRun.Status.CANCELLED  # a late task does nothing
