"""Celery tasks of the embeddings app."""

from celery import shared_task


@shared_task(name="embeddings.embed_help", acks_late=True, ignore_result=True)
def embed_help(run_id: int) -> None:
    """Help a running sync embed: pull its batches until none is left (embeddings.fanout)."""
    from embeddings.backends import get_backend
    from embeddings.fanout import work_until_done
    from syncs.models import SyncRun

    run = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).first()
    if run is None:
        return  # the run ended (or never started): nothing to help with

    def run_ended() -> bool:
        return not SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).exists()

    work_until_done(run_id, get_backend(run.embedding_model), should_stop=run_ended)
