"""Celery tasks of the sync: thin, they take ids and call one function. Bound to nyxsync's app
itself (not shared_task): a process that imports them sends them through it, whatever it imported before."""

from nyxsync.celery import app


@app.task(name="syncs.run_sync", bind=True, acks_late=True, ignore_result=True, max_retries=None)
def run_sync(self, run_id: int) -> None:
    from syncs.pipeline import SyncBusy, sync_run_execute

    try:
        sync_run_execute(run_id)
    except SyncBusy as exc:
        # Another run of this branch is going; this one waits its turn without holding a worker.
        raise self.retry(exc=exc, countdown=min(30, 2 + self.request.retries)) from exc


@app.task(name="embeddings.embed_help", acks_late=True, ignore_result=True)
def embed_help(run_id: int) -> None:
    """Help a running sync embed its batches (syncs.pipeline.sync_run_help_embed). The name is
    older than this module and stays: messages already queued keep finding the task."""
    from syncs.pipeline import sync_run_help_embed

    sync_run_help_embed(run_id)


@app.task(name="embeddings.index_vectors", ignore_result=True, soft_time_limit=120, time_limit=150)
def index_vectors() -> None:
    """After each swap that stored vectors or chunks, and beat every minute as a safety net: write
    the pending chunks' text vectors (embeddings.text_search, first: quick, and what makes word
    search use its index again), then move pending vectors into their model's HNSW index
    (embeddings.vectors.vectors_index_pending); one pass of each at a time. A call works for
    NYXSYNC_INDEX_SLICE_SECONDS, then queues the next one behind what came meanwhile: a backlog
    of 100,000 vectors (minutes) never keeps a sync waiting for a worker."""
    import time

    from django.conf import settings

    from embeddings.text_search import chunks_text_search_fill
    from embeddings.vectors import vectors_index_pending
    from nyxsync import tenancy

    deadline = time.monotonic() + settings.NYXSYNC_INDEX_SLICE_SECONDS
    with tenancy.dangerously_as_system():  # every tenant's chunks and vectors
        _, text_more = chunks_text_search_fill(seconds=settings.NYXSYNC_INDEX_SLICE_SECONDS)
        done = vectors_index_pending(seconds=max(deadline - time.monotonic(), 0))
    if text_more or done.more:  # stopped by the clock with work left (not: another pass runs)
        index_vectors.apply_async()


@app.task(name="syncs.sweep", ignore_result=True, soft_time_limit=60, time_limit=90)
def sweep() -> None:
    from nyxsync import tenancy
    from syncs.services import sync_runs_sweep

    with tenancy.dangerously_as_system():  # repairs runs of every project
        sync_runs_sweep()


# --- scheduled syncs ----------------------------------------------------------------------------


@app.task(name="syncs.check_scheduled", ignore_result=True, soft_time_limit=240, time_limit=300)
def check_scheduled() -> None:
    """Beat, every minute: check the auto-synced branches that are due (syncs.schedule)."""
    from nyxsync import tenancy
    from syncs.schedule import project_syncs_check_due

    with tenancy.dangerously_as_system():  # checks the branches of every project
        project_syncs_check_due()
