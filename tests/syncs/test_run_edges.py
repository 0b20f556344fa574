"""Defects found on the way through the layers (issue 13), each pinned by a test that failed before."""

import pytest

from embeddings.fanout import BatchFailed
from syncs import services
from syncs.models import SyncRun
from syncs.pipeline import _describe, sync_run_execute

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_owner")]


def test_a_run_deleted_with_its_branch_is_not_an_error_for_its_task(make_repo, link, fast_model):
    repo = make_repo()
    repo.write("a.py", "x = 1\n")
    repo.commit()
    sync = link(repo)
    run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    services.project_sync_remove(project_sync=sync)  # the waiting run goes with its branch

    assert sync_run_execute(run.pk) is None  # the task that arrives later finds nothing to do


def test_a_prune_that_fails_after_the_swap_leaves_the_run_succeeded(make_repo, link, sync_now, monkeypatch):
    repo = make_repo()
    repo.write("a.py", "x = 1\n")
    repo.commit()
    sync = link(repo)
    assert sync_now(sync).status == SyncRun.Status.SUCCEEDED
    repo.write("a.py", "x = 2\n")
    repo.commit()

    def broken_prune(project_sync):
        raise RuntimeError("the database went away while pruning")

    monkeypatch.setattr("syncs.pipeline.manifest_prune_retired", broken_prune)
    run = sync_now(sync)

    assert (run.status, run.error) == (SyncRun.Status.SUCCEEDED, "")
    sync.refresh_from_db()
    assert sync.live_commit == run.commit_after  # the new snapshot is live; the next run prunes


def test_a_batch_that_failed_every_attempt_says_so_in_the_runs_error():
    error = BatchFailed("embedding batch 2 failed 3 times: ReadTimeout: the backend did not answer")

    assert _describe(error) == "embedding batch 2 failed 3 times: ReadTimeout: the backend did not answer"
