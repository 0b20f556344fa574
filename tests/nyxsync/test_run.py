"""`manage.py run` (what `make run` calls) end to end, in a fresh home of its own: embedded
services, migrations, first admin, web + worker + beat, Ctrl-C stops everything."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
from django.conf import settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunningNyxsync:
    def __init__(self, home, log, extra_env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "nyxsync.settings",
            "NYXSYNC_HOME": str(home),
            "NYXSYNC_ADMIN_PASSWORD": "first-admin-password",
            **(extra_env or {}),
        }
        for name in ("DATABASE_URL", "REDIS_URL", "DEBUG"):  # a checkout's own defaults, as `make run` has them
            env.pop(name, None)
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run", "--port", str(self.port)],
            cwd=settings.BASE_DIR, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_healthy(self, timeout=120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                response = httpx.get(f"{self.base}/healthz", timeout=5)
                if response.status_code == 200:
                    return response.json()
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"not healthy after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def child(self, *words: str) -> psutil.Process:
        """The supervised process whose command line holds all of `words`."""
        for process in psutil.Process(self.process.pid).children():
            if all(word in process.cmdline() for word in words):
                return process
        raise AssertionError(f"no child running {words}")

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """`python manage.py ...` from the checkout beside the running nyxsync, as a user would."""
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=self.env, capture_output=True, text=True, timeout=120
        )

    def ctrl_c(self) -> list[psutil.Process]:
        children = psutil.Process(self.process.pid).children(recursive=True)
        os.killpg(self.process.pid, signal.SIGINT)  # the terminal's Ctrl-C reaches the supervisor's group
        assert self.process.wait(timeout=60) == 0, self.log.read_text()[-3000:]
        return children


def test_it_serves_admin_and_healthz_then_stops_everything_on_ctrl_c(tmp_path, nyxsync_home):
    home = nyxsync_home
    first = RunningNyxsync(home, tmp_path / "first.log")
    health = first.wait_healthy()
    assert health["worker"]["ok"] and health["redis"]["ok"] and health["database"]["ok"]

    with httpx.Client(base_url=first.base, timeout=10, follow_redirects=True) as browser:
        browser.get("/admin/login/")
        response = browser.post(
            "/admin/login/?next=/admin/",
            data={"username": "admin", "password": "first-admin-password", "csrfmiddlewaretoken": browser.cookies["csrftoken"], "next": "/admin/"},
            headers={"Referer": f"{first.base}/admin/login/"},
        )
    assert response.status_code == 200
    assert "Site administration" in response.text

    children = first.ctrl_c()
    assert len(children) >= 3  # web, worker (and its pool), beat
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    output = first.log.read_text()
    assert f"nyxsync is running: open http://127.0.0.1:{first.port}/" in output
    assert "Created admin user 'admin'" in output

    # A second run reuses the data of the first: the admin exists already.
    second = RunningNyxsync(home, tmp_path / "second.log")
    second.wait_healthy()
    second.ctrl_c()
    output = second.log.read_text()
    assert "Admin user: admin" in output and "Created admin" not in output


def test_commands_beside_it_share_its_settings_and_a_killed_worker_is_restarted(tmp_path, nyxsync_home, make_repo):
    repo = make_repo()
    repo.write("beside.py", "def beside():\n    return 'synced by the running worker'\n").commit("first")
    running = RunningNyxsync(nyxsync_home, tmp_path / "run.log", extra_env={"NYXSYNC_EMBEDDING_MODEL": "hashing-256"})
    try:
        running.wait_healthy()
        # git:// on 127.0.0.1 is accepted from the command line as it is by the pages of `make run`.
        first = running.manage("sync", "--repo", repo.url, "--branch", "main", "--json")
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["status"] == "succeeded"

        worker = running.child("celery", "worker")
        web = running.child("uvicorn")
        worker.kill()  # as the kernel's out-of-memory killer would
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "the worker process exited with status -9; restarting it in 1 s" not in running.log.read_text():
            assert httpx.get(f"{running.base}/healthz", timeout=5).status_code in (200, 503)  # the web keeps answering
            time.sleep(0.2)
        assert "restarting it in 1 s" in running.log.read_text(), running.log.read_text()[-3000:]
        health = running.wait_healthy()
        assert health["worker"]["ok"]
        assert running.child("uvicorn").pid == web.pid  # the web and the services stayed up
        assert running.child("celery", "worker").pid != worker.pid

        repo.write("beside.py", "def beside():\n    return 'synced by the restarted worker'\n").commit("second")
        second = running.manage("sync", "--repo", repo.url, "--branch", "main", "--json")
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout)["chunks_embedded"] >= 1
    finally:
        running.ctrl_c()
