"""Browser test fixtures: the app under a real ASGI server (uvicorn, in a subprocess, on the test
database and the test Redis database, like tests/workers.py's workers) and Debian's Chromium
driven by Playwright. A failed test leaves a screenshot of each of its pages in test-artifacts/.

    def test_x(web, new_page, celery_worker, transactional_db):
        page = new_page()                       # base_url is the server's
        login(page, "owner", "owner-password")
        page.goto("/")
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.browser.support import Gate
from tests.gitserver import free_port, wait_for_port
from tests.workers import child_env, kill_group, stop_group

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
READY_SECONDS = 60
TIMEOUT_MS = 20_000


class WebServer:
    """`uvicorn nyxsync.asgi:application` on 127.0.0.1; `kill()` and `start()` again on the same port."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log_path = log_dir / f"uvicorn-{self.port}.log"
        # Plain http on 127.0.0.1: the browser must keep the session and CSRF cookies.
        self.env = child_env(NYXSYNC_EMBEDDING_MODEL="hashing-256", SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        command = [
            sys.executable, "-m", "uvicorn", "nyxsync.asgi:application", "--host", "127.0.0.1", "--port", str(self.port),
            # Without it uvicorn waits forever for open SSE streams to end on SIGTERM.
            "--timeout-graceful-shutdown", "2", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            command, env=self.env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for_port(self.port, process=self.process, timeout=READY_SECONDS)
            self._wait_healthy()
        except BaseException:
            self.kill()  # a server that never became ready must not outlive the test run
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"uvicorn not healthy after {READY_SECONDS}s; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no graceful goodbye to open streams."""
        kill_group(self.process)

    def stop(self) -> None:
        stop_group(self.process, timeout=10)


@pytest.fixture(scope="package")
def web(django_db_setup, django_db_blocker, tmp_path_factory, session_celery_worker):
    """The app under uvicorn for the browser tests. Tests using it need `transactional_db`; its
    /healthz, awaited at start, needs a worker to answer (the session's, consuming or not)."""
    with django_db_blocker.unblock():
        server = WebServer(tmp_path_factory.mktemp("web")).start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: `make test-packages` installs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    # A sync takes a second or two, more on a busy machine: wait for it longer than 5 s.
    expect.set_options(timeout=TIMEOUT_MS)

    # Playwright's sync API keeps an event loop in this thread; Django would then refuse ORM
    # calls from the test as "async". The test's own ORM calls are plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def new_page(transactional_db, web, browser, request):
    """new_page() -> a Playwright page in a fresh browser context (its own cookies)."""
    contexts = []

    def make():
        context = browser.new_context(base_url=web.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        for number, context in enumerate(contexts):
            for tab, page in enumerate(context.pages):
                try:
                    page.screenshot(path=str(ARTIFACTS / f"{name}-{number}-{tab}.png"), full_page=True)
                except Exception as exc:  # a crashed page must not hide the test's own failure
                    print(f"screenshot failed: {exc}")
    for context in contexts:
        context.close()


@pytest.fixture
def gate(git_http):
    gate = Gate()
    yield gate
    gate.open()
    git_http.on_request = None
