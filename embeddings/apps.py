import threading

from django.apps import AppConfig


class EmbeddingsConfig(AppConfig):
    name = "embeddings"

    def ready(self) -> None:
        from embeddings import checks  # noqa: F401  (registers the migration checks)

    def worker_process_init(self) -> None:
        """Called in each Celery worker process as it starts (nyxsync.celery)."""
        _warm_the_model()


def warm_the_query_model() -> None:
    """Load the default model and run it once, now: a web process calls this before it answers
    anyone (nyxsync.asgi), so the first search after a start does not wait seconds for it."""
    from django.conf import settings

    if not settings.NYXSYNC_WARM_MODEL_ON_START:
        return
    from embeddings.backends import get_backend

    backend = get_backend()
    if hasattr(backend, "warm"):
        backend.warm()
    backend.embed(["warm up"])  # the first run of a model allocates what the next ones reuse


def _warm_the_model(**kwargs) -> None:
    """Load the default embedding model in each worker process as it starts, in the background
    (process init must return within seconds), so the first sync does not wait for it."""
    from django.conf import settings

    if not settings.NYXSYNC_WARM_MODEL_ON_START:
        return

    def warm() -> None:
        from embeddings.backends import get_backend

        backend = get_backend()
        if hasattr(backend, "warm"):
            backend.warm()

    threading.Thread(target=warm, name="warm-model", daemon=True).start()
