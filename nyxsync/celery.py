"""The Celery application. Configuration comes from Django settings (CELERY_* names)."""

import os
import threading

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nyxsync.settings")

app = Celery("nyxsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
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
