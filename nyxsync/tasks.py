"""Infrastructure tasks."""

from nyxsync.celery import app


@app.task(name="nyxsync.ping", ignore_result=False, soft_time_limit=10, time_limit=15)
def ping(value: str) -> str:
    """Round-trips through the broker, a worker and the result backend (used by /healthz tests)."""
    return value
