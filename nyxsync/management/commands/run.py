"""`run` (what `make run` calls): embedded services, guarded migrate, first admin, then the ASGI
web server, a Celery worker and Celery beat, supervised until Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from nyxsync import embedded

SHUTDOWN_SECONDS = 15


class Command(BaseCommand):
    help = "Runs nyxsync: web (ASGI) on HOST:PORT, a Celery worker and Celery beat, until Ctrl-C."
    requires_system_checks = []  # migrate runs them

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--worker-concurrency", type=int, default=int(os.environ.get("WORKER_CONCURRENCY", "1"))
        )

    def handle(self, *args, **options):
        host, port = options["host"], options["port"]
        _require_free_port(host, port)
        call_command("migrate", interactive=False, verbosity=1)
        call_command("ensure_admin")
        children = self._start(host, port, options["worker_concurrency"])
        self.stdout.write(self.style.SUCCESS(f"nyxsync is running: open http://{host}:{port}/ (admin: /admin/)"))
        self.stdout.write("Press Ctrl-C to stop.")
        code = _supervise(children)
        _stop(children)
        if embedded.started_here:
            embedded.stop_services(only=set(embedded.started_here))
        self.stdout.write("nyxsync stopped.")
        if code:
            raise CommandError(code)

    def _start(self, host: str, port: int, concurrency: int) -> dict[str, subprocess.Popen]:
        python = sys.executable
        commands = {
            "web": web_command(host, port),
            "worker": [
                python, "-m", "celery", "-A", "nyxsync", "worker", "--loglevel", "INFO",
                "--concurrency", str(concurrency), "--hostname", f"worker-{port}@%h",
            ],
            "beat": [
                python, "-m", "celery", "-A", "nyxsync", "beat", "--loglevel", "INFO",
                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "nyxsync.settings")}
        # Own process groups: Ctrl-C reaches only this supervisor, which stops them in order.
        return {
            name: subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, start_new_session=True)
            for name, command in commands.items()
        }


def web_command(host: str, port: int) -> list[str]:
    """The ASGI web server. Lifespan on: the MCP endpoint (agents.http) runs its task group in it.
    Without the graceful-shutdown timeout uvicorn would wait forever for open SSE streams."""
    return [
        sys.executable, "-m", "uvicorn", "nyxsync.asgi:application", "--host", host, "--port", str(port),
        "--timeout-graceful-shutdown", "2", "--no-access-log", "--lifespan", "on",
    ]  # fmt: skip


def _require_free_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port} ({exc.strerror}); stop whatever uses it or choose another port with PORT=..."
            ) from exc


def _supervise(children: dict[str, subprocess.Popen]) -> str:
    """Wait for Ctrl-C/SIGTERM (returns "") or for a child to die (returns why)."""
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.append(True))
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                return f"the {name} process exited with status {child.returncode}; stopping the others"
        time.sleep(0.2)
    return ""


def _stop(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
