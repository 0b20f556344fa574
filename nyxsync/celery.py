"""The Celery application. Configuration comes from Django settings (CELERY_* names). Imported by
the processes that send or run tasks (`celery -A nyxsync` finds it here), not at Django's setup:
a command that sends none does not pay for Celery's import. An app that does something in each
worker process defines `worker_process_init()` on its AppConfig (embeddings.apps warms the model)."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nyxsync.settings")


class NyxsyncCelery(Celery):
    """Every broker connection (a worker's, beat's, a task sent, a control ping) first makes sure
    the embedded Redis runs when the settings use it: the settings only name its socket."""

    def connection_for_read(self, url=None, **kwargs):
        _ensure_embedded_redis()
        return super().connection_for_read(url, **kwargs)

    def connection_for_write(self, url=None, **kwargs):
        _ensure_embedded_redis()
        return super().connection_for_write(url, **kwargs)


def _ensure_embedded_redis() -> None:
    # Imported here: `python -m nyxsync.embedded` imports this package (and so this module) first.
    from nyxsync import embedded

    embedded.ensure_configured("redis")


app = NyxsyncCelery("nyxsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _apps_worker_process_init(**kwargs) -> None:
    from django.apps import apps

    for config in apps.get_app_configs():
        if hasattr(config, "worker_process_init"):
            config.worker_process_init()


@worker_init.connect
@worker_process_init.connect
def _longer_statements(**kwargs) -> None:
    """A worker's statements (a large COPY, a swap of 100,000 chunks) may take longer than a web
    request's (nyxsync.db.worker_statement_limit), in the worker and in each pool process."""
    from nyxsync.db import worker_statement_limit

    worker_statement_limit()
