"""The Celery application. Configuration comes from Django settings (CELERY_* names). Each app
hooks its own worker signals (embeddings.apps warms the model)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nyxsync.settings")

app = Celery("nyxsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
