"""Celery tasks of the embeddings app."""

from celery import shared_task


@shared_task(name="embeddings.embed_help", acks_late=True, ignore_result=True)
def embed_help(run_id: int) -> None:
    """Help a running sync embed: pull its batches until none is left (embeddings.fanout)."""
    from embeddings.backends import get_backend
    from embeddings.fanout import work_until_done
    from nyxsync import tenancy
    from syncs.models import SyncRun

    with tenancy.dangerously_as_system():  # only to learn the run's project
        run = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).select_related("project_sync").first()
    if run is None:
        return  # the run ended (or never started): nothing to help with

    def run_ended() -> bool:
        return not SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).exists()

    with tenancy.acting_for_project(run.project_sync.project_id):
        work_until_done(run_id, get_backend(run.embedding_model), should_stop=run_ended)
