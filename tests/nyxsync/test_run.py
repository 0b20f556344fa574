"""`manage.py run` (what `make run` calls) end to end, in a fresh home of its own: embedded
services, migrations, first admin, web + worker + beat, Ctrl-C stops everything."""

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
    def __init__(self, home, log):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "nyxsync.settings",
            "NYXSYNC_HOME": str(home),
            "DEBUG": "true",
            "NYXSYNC_ADMIN_PASSWORD": "first-admin-password",
        }
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
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
