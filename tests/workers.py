"""Real Celery worker processes for tests.

A worker runs `celery -A nyxsync worker` with the test settings, against the test database and the
test Redis database, so it sees what a `transactional_db` test commits. Use `celery_worker` (one
process for the whole session, consuming only during the tests that ask for it) or `start_worker`
(extra workers a test may kill).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from nyxsync import embedded

READY_SECONDS = 60


def database_url(name: str | None = None) -> str:
    """The URL of the test database (or of another database `name` on the same server)."""
    db = connection.settings_dict
    return embedded.database_url(
        host=db["HOST"] or "localhost", name=name or db["NAME"], user=db["USER"] or "", password=db["PASSWORD"] or "", port=db["PORT"] or ""
    )


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a process a test starts (a worker, the web or MCP server): the test
    settings on the test database and Redis, with Django's async-safety checks on, whatever the
    test process relaxed for itself (tests/browser/conftest.py), as in production."""
    environ = {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {
        **environ,
        "DJANGO_SETTINGS_MODULE": "nyxsync.settings.test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        **extra,
    }


def stop_group(process: subprocess.Popen | None, *, timeout: float) -> None:
    """SIGTERM the process group a test started, SIGKILL it if it has not ended in `timeout` s."""
    if process and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(process)


def kill_group(process: subprocess.Popen | None) -> None:
    """SIGKILL the process group at once, as a crashing machine or an OOM kill would."""
    if process and process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class WorkerProcess:
    """One `celery worker` process (prefork, one child) in its own process group."""

    def __init__(self, log_dir: Path, *, concurrency: int = 1, queues: str | None = None, extra_env: dict | None = None):
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.log_path = log_dir / f"{self.name.split('@')[0]}.log"
        self.concurrency = concurrency
        self.queues = queues or settings.CELERY_TASK_DEFAULT_QUEUE
        self.env = child_env(**(extra_env or {}))
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        command = [
            sys.executable, "-m", "celery", "-A", "nyxsync", "worker", "--loglevel", "INFO",
            "--concurrency", str(self.concurrency), "--hostname", self.name, "--queues", self.queues,
            "--without-gossip", "--without-mingle",
        ]
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            command, env=self.env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready()
        return self

    @property
    def hostname(self) -> str:
        return self.name.replace("%h", os.uname().nodename)

    def _wait_ready(self) -> None:
        from nyxsync.celery import app

        hostname = self.hostname
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")
            if app.control.ping(destination=[hostname], timeout=0.5):
                return
        raise RuntimeError(f"celery worker not ready after {READY_SECONDS}s; see {self.log_path}")

    def stop(self) -> None:
        stop_group(self.process, timeout=20)

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once, as a crashing machine would."""
        kill_group(self.process)


@pytest.fixture(scope="session")
def worker_log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workers")


@pytest.fixture(scope="session")
def session_celery_worker(django_db_setup, django_db_blocker, worker_log_dir):
    """One worker process for the session, started on a queue nobody sends to: it consumes the
    tests' queue only while a test that asked for `celery_worker` runs. Otherwise it would run the
    tasks any later test enqueues (a trigger through the API) while that test runs them itself."""
    with django_db_blocker.unblock():
        worker = WorkerProcess(worker_log_dir, queues=f"{settings.CELERY_TASK_DEFAULT_QUEUE}-idle").start()
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(session_celery_worker):
    """The session's worker, consuming the tests' queue for this test. Tests using it need
    `transactional_db`. Tasks earlier tests left in the queue are dropped first."""
    from nyxsync.celery import app

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    destination = [session_celery_worker.hostname]
    app.control.purge()
    _control(app.control.add_consumer(queue, destination=destination, reply=True), "add_consumer")
    yield session_celery_worker
    _control(app.control.cancel_consumer(queue, destination=destination, reply=True), "cancel_consumer")


def _control(replies: list, command: str) -> None:
    if not replies:
        raise RuntimeError(f"the session's celery worker did not answer {command}")


@pytest.fixture
def start_worker(django_db_setup, worker_log_dir):
    """Start extra workers (stopped at the end of the test): `start_worker(concurrency=1)`."""
    started = []

    def start(**kwargs) -> WorkerProcess:
        worker = WorkerProcess(worker_log_dir, **kwargs).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
