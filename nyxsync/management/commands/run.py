"""`run` (what `make run` calls): embedded services, guarded migrate, first admin, then the ASGI
web server, a Celery worker and Celery beat, supervised until Ctrl-C: a child that dies is
restarted, the others and the embedded services stay up."""

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
        embedded.ensure_configured()  # before the children, which would each race to start them
        call_command("migrate", interactive=False, verbosity=1)
        call_command("ensure_admin")
        commands = self._commands(host, port, options["worker_concurrency"])
        children = {name: self._spawn(command) for name, command in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"nyxsync is running: open http://{host}:{port}/ (admin: /admin/)"))
        self.stdout.write("Press Ctrl-C to stop.")
        code = _supervise(children, lambda name: self._spawn(commands[name]), lambda line: self.stderr.write(line))
        _stop(children)
        if embedded.started_here and not embedded.stop_services_unless_used(set(embedded.started_here)):
            self.stdout.write("The embedded services stay up: another process (a test run, a command) still uses them.")
        self.stdout.write("nyxsync stopped.")
        if code:
            raise CommandError(code)

    def _commands(self, host: str, port: int, concurrency: int) -> dict[str, list[str]]:
        python = sys.executable
        return {
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

    def _spawn(self, command: list[str]) -> subprocess.Popen:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "nyxsync.settings")}
        # An own process group: Ctrl-C reaches only this supervisor, which stops the children in order.
        return subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, start_new_session=True)


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


# A child that dies is started again after a pause that doubles with each crash; one that crashes
# CRASH_LIMIT times within CRASH_WINDOW_SECONDS is broken (a bad setting, a port taken), not
# unlucky: then everything stops, saying why.
RESTART_DELAYS = (1, 2, 4, 8, 15)
CRASH_LIMIT = 5
CRASH_WINDOW_SECONDS = 120


def _supervise(children: dict[str, subprocess.Popen], start, log) -> str:
    """Keep the children running until Ctrl-C/SIGTERM (returns "") or until one keeps crashing
    (returns why). A dead worker or beat (SIGKILL, out of memory) is restarted while the web and
    the embedded services stay up. `start(name)` starts a child again; `log(line)` reports."""
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.append(True))
    crashes: dict[str, list[float]] = {name: [] for name in children}
    restart_at: dict[str, float] = {}
    while not stopping:
        now = time.monotonic()
        for name, child in children.items():
            if name in restart_at:
                if now >= restart_at[name]:
                    del restart_at[name]
                    children[name] = start(name)
                continue
            if child.poll() is None:
                continue
            _kill_group(child)  # what the dead one left behind (a worker's pool processes)
            recent = [moment for moment in crashes[name] if now - moment < CRASH_WINDOW_SECONDS] + [now]
            crashes[name] = recent
            if len(recent) >= CRASH_LIMIT:
                return (
                    f"the {name} process exited {len(recent)} times in {CRASH_WINDOW_SECONDS} s (last status "
                    f"{child.returncode}); stopping nyxsync: see the {name}'s log above"
                )
            delay = RESTART_DELAYS[min(len(recent), len(RESTART_DELAYS)) - 1]
            log(f"the {name} process exited with status {child.returncode}; restarting it in {delay} s")
            restart_at[name] = now + delay
        time.sleep(0.2)
    return ""


def _kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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
