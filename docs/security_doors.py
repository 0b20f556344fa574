"""The doors of the outside check (docs/security_check.py): Django set up on this checkout, git
served on 127.0.0.1, a recording proxy, the web and its streams as a client sees them, and the
record of what every door answered (searched for secrets at the end)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CLONE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CLONE))
os.chdir(CLONE)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nyxsync.settings")
for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
    os.environ.pop(name, None)  # this script talks to 127.0.0.1 only, straight

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402, F401 (the check's: imported once Django is set up)
from django.db import connection  # noqa: E402

from nyxsync import api_tokens, tenancy  # noqa: E402, F401 (api_tokens: the check's)

User = get_user_model()
RESULTS: list[tuple[str, str, str, str]] = []
SECRETS: dict[str, str] = {}  # what must never be seen: name -> value
SEEN: list[tuple[str, str]] = []  # (where, text) of everything the doors answered


def record(item: str, name: str, good: bool, evidence: str, *, control: bool = False) -> None:
    verdict = ("OK" if good else "BROKEN") if control else ("REFUSED" if good else "LEAKED")
    RESULTS.append((item, name, verdict, evidence))
    print(f"[{item}] {verdict:9} {name}: {evidence}", flush=True)


def seen(where: str, response) -> object:
    SEEN.append((where, response.text if hasattr(response, "text") else str(response)))
    return response


def system():
    return tenancy.dangerously_as_system()


# --- git served on 127.0.0.1 ----------------------------------------------------------------------

WORK = Path(tempfile.mkdtemp(prefix="nyxsync-security-check-"))


def git(*args, cwd=None):
    env = {**os.environ, "GIT_AUTHOR_NAME": "c", "GIT_AUTHOR_EMAIL": "c@x", "GIT_COMMITTER_NAME": "c", "GIT_COMMITTER_EMAIL": "c@x"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def make_repo(name: str, files: dict[str, str]) -> Path:
    bare = WORK / "served" / f"{name}.git"
    work = WORK / "work" / name
    shutil.rmtree(bare, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("config", "http.receivepack", "true", cwd=bare)
    git("init", "-q", "-b", "main", str(work))
    for path, text in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("push", "-q", str(bare), "main", cwd=work)
    return work


class ProxyRecorder:
    """Listens where make run's proxy variables point and records what would have gone through a
    proxy (answering nothing): git must not use an inherited proxy."""

    def __init__(self, port: int):
        self.seen: list[bytes] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(20)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            client.settimeout(2)
            try:
                self.seen.append(client.recv(200))
            except OSError:
                self.seen.append(b"")
            client.close()

    def close(self) -> None:
        self.sock.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the web doors ---------------------------------------------------------------------------


class Web:
    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def api(self, token: str | None = None, **headers) -> httpx.Client:
        if token:
            headers["Authorization"] = f"Token {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, follow_redirects=False)

    def login(self, client: httpx.Client, path: str, username: str, password: str) -> httpx.Response:
        """A real form login: the page's CSRF token, then the POST."""
        page = client.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        data = {"username": username, "password": password, "csrfmiddlewaretoken": token[1] if token else ""}
        return client.post(path, data=data, headers={"Referer": self.url + path})


def csrf_of(page_text: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page_text)
    return found[1] if found else ""


def app_connections() -> int:
    """Sessions of the app's role other than this script's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def wait_run(api: httpx.Client, project: str, *, timeout: float = 300, after: set[str] = frozenset()) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = api.get(f"/api/v1/projects/{project}/runs/").json()["results"]
        fresh = [run for run in runs if run["uuid"] not in after]
        if fresh and all(run["status"] in ("succeeded", "up_to_date", "failed", "cancelled") for run in fresh):
            return fresh[0]
        time.sleep(0.5)
    raise TimeoutError(f"no run of {project} finished in {timeout} s")


def trigger(api: httpx.Client, project: str) -> httpx.Response:
    """Press Sync on the project's first branch."""
    sync = api.get(f"/api/v1/projects/{project}/syncs/").json()["results"][0]["uuid"]
    return api.post(f"/api/v1/projects/{project}/syncs/{sync}/runs/")


def run_uuids(api, project) -> set[str]:
    return {run["uuid"] for run in api.get(f"/api/v1/projects/{project}/runs/").json()["results"]}


def chromium_csp_violations(url: str, cookie: str, paths: list[str]) -> list[str]:
    """Debian's Chromium, logged in with the session cookie: every CSP violation the pages report."""
    from playwright.sync_api import sync_playwright

    found = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
        context.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        page = context.new_page()
        page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
        for path in paths:
            page.goto(url + path, wait_until="networkidle")
            page.wait_for_timeout(500)
            found += [f"{path}: {v}" for v in page.evaluate("window.__csp")]
        browser.close()
    return found
