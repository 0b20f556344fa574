"""Celery tasks of the sync: thin, they take ids and call one function."""

from celery import shared_task


@shared_task(name="syncs.run_sync", bind=True, acks_late=True, ignore_result=True, max_retries=None)
def run_sync(self, run_id: int) -> None:
    from syncs.pipeline import SyncBusy, sync_run_execute

    try:
        sync_run_execute(run_id)
    except SyncBusy as exc:
        # Another run of this branch is going; this one waits its turn without holding a worker.
        raise self.retry(exc=exc, countdown=3) from exc
