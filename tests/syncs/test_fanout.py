"""Fan-out: a large embedding is shared by every available worker; a helper worker that dies
mid-way loses nothing: its batch goes to another when its lease lapses."""

import time
import uuid
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from embeddings.fanout import batch_claim, batch_process, batches_create
from embeddings.models import Chunk, EmbedBatch, Vector
from syncs import services
from syncs.models import SyncRun
from syncs.tasks import run_sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_owner")]
TENACITY = Path(settings.BASE_DIR) / ".venv/lib/python3.11/site-packages/tenacity"
FANOUT_ENV = {"NYXSYNC_FANOUT_MIN_BATCHES": "2", "NYXSYNC_FANOUT_LEASE_SECONDS": "3", "NYXSYNC_TORCH_THREADS": "1"}


def wait_for(predicate, *, timeout=180, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_batches_are_claimed_once_and_a_lapsed_lease_is_claimed_again(settings, make_repo, link, git_cache, fast_model):
    settings.NYXSYNC_FANOUT_LEASE_SECONDS = 60
    repo = make_repo()
    repo.write("a.py", "def a():\n    return 1\n").write("b.py", "def b():\n    return 2\n").commit()
    sync = link(repo)
    run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    from embeddings.backends import get_backend
    from embeddings.vectors import embedding_model_register
    from syncs.pipeline import sync_run_execute

    sync_run_execute(run.pk)  # stages chunks (and embeds them); the batches below re-use their texts
    Vector.objects.all().delete()
    backend = get_backend("hashing-256")
    model = embedding_model_register(name=backend.name, backend=backend.backend, dimensions=backend.dimensions)
    hashes = sorted(Chunk.objects.values_list("content_hash", flat=True))
    assert batches_create(run, model, hashes, size=1) == 2

    first, second = batch_claim(run.pk), batch_claim(run.pk)
    assert {first.ordinal, second.ordinal} == {0, 1} and batch_claim(run.pk) is None
    EmbedBatch.objects.filter(pk=first.pk).update(claimed_at=first.claimed_at.replace(year=2000))  # its worker went silent
    again = batch_claim(run.pk)
    assert again.pk == first.pk and again.attempts == 2

    assert batch_process(again, backend) == 1 and batch_process(second, backend) == 1
    assert Vector.objects.count() == 2 and batch_claim(run.pk) is None


@pytest.mark.worker
def test_a_helper_worker_killed_mid_fan_out_loses_nothing(start_worker, make_repo, link, git_cache):
    run_queue = f"runs-{uuid.uuid4().hex[:6]}"
    coordinator = start_worker(queues=run_queue, extra_env=FANOUT_ENV)  # runs the sync itself
    helper = start_worker(extra_env=FANOUT_ENV)  # takes the embed_help tasks (the default queue)
    repo = make_repo()
    repo.copy_tree(TENACITY, "tenacity").commit()
    sync = link(repo)
    run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    run_sync.apply_async(args=[run.pk], queue=run_queue)

    helper_pids = {str(child.pid) for child in psutil.Process(helper.process.pid).children(recursive=True)}
    held = wait_for(
        lambda: EmbedBatch.objects.filter(run=run, done_at__isnull=True, claimed_at__isnull=False)
        .filter(claimed_by__regex=rf":({'|'.join(helper_pids)})$")
        .first(),
        what="the helper to hold a batch",
    )
    helper.kill()
    run = wait_for(lambda: SyncRun.objects.filter(pk=run.pk).exclude(status__in=SyncRun.ACTIVE_STATUSES).first(), what="the run to end")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    unique_hashes = set(Chunk.objects.filter(file__project_sync=sync).values_list("content_hash", flat=True))
    assert run.chunks_embedded == len(unique_hashes) == Vector.objects.count()  # every chunk has exactly one vector
    assert "embeddings.batch.done" in coordinator.log_path.read_text()
    assert held.ordinal is not None and not EmbedBatch.objects.filter(run=run).exists()
