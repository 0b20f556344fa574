"""Fixtures for the MCP door: nyxsync.asgi under uvicorn with the flags `manage.py run` uses (on
the test database and Redis), projects synced for real from the local git server, API tokens,
and the official SDK's client over HTTP and stdio.

The client is async; tests stay synchronous (their ORM calls too) and run it with `anyio.run`.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx2
import pytest
from django.conf import settings
from django.core.cache import cache
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from nyxsync import tenancy
from nyxsync.management.commands.run import web_command
from projects.models import Membership
from syncs import services
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute
from tests.factories import MembershipFactory, api_key_for
from tests.gitserver import free_port, wait_for_port
from tests.workers import child_env, stop_group

READY_SECONDS = 60
STDIO_APPLICATION_NAME = "mcp-stdio"

BILLING = '''"""Invoices."""


def compute_invoice_total(lines):
    """The sum of the lines' amounts."""
    return sum(line.amount for line in lines)


class InvoiceLine:
    def __init__(self, amount):
        self.amount = amount
'''
USERS = "class UserRepository:\n    def find_by_email(self, email):\n        return None\n"
THEIRS = "def secret_pricing_formula(rows):\n    return 42\n"


class McpWeb:
    """nyxsync.asgi:application under uvicorn, started as `manage.py run` starts it."""

    def __init__(self, log_dir: Path, extra_env: dict | None = None):
        self.port = free_port()
        self.log_path = log_dir / f"uvicorn-{self.port}.log"
        self.env = child_env(NYXSYNC_EMBEDDING_MODEL="hashing-256", PGAPPNAME=f"mcp-web-{self.port}", **(extra_env or {}))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp/"

    def start(self) -> McpWeb:
        command = [*web_command("127.0.0.1", self.port), "--log-level", "warning"]
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            command, env=self.env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for_port(self.port, process=self.process, timeout=READY_SECONDS)
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5):
                    return self
            except urllib.error.HTTPError:
                return self  # answering (a part may be down: not what these tests need)
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"uvicorn not answering after {READY_SECONDS}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> int | None:
        if self.process and self.process.poll() is None:
            stop_group(self.process, timeout=15)
            wait_for_sessions_to_end(f"mcp-web-{self.port}")
        return self.process.returncode if self.process else None


def wait_for_sessions_to_end(application_name: str, timeout: float = 5) -> None:
    """PostgreSQL ends the sessions of a client that died a moment later: wait for that, so
    that dropping the test database at the end of the run does not find them still there."""
    import psycopg
    from django.db import connection

    db = connection.settings_dict
    owner = (settings.NYXSYNC_MIGRATION_DATABASE or {}).get("USER") or db["USER"]
    deadline = time.monotonic() + timeout
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or None, user=owner, dbname=db["NAME"], autocommit=True) as conn:
        while time.monotonic() < deadline:
            # The server names its sessions (PGAPPNAME, in its environment).
            (count,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name]
            ).fetchone()
            if not count:
                return
            time.sleep(0.05)


@pytest.fixture(scope="package")
def mcp_web(django_db_setup, django_db_blocker, tmp_path_factory):
    """One server for the package's HTTP tests. Tests using it need `transactional_db`."""
    with django_db_blocker.unblock():
        server = McpWeb(tmp_path_factory.mktemp("mcp-web")).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Throttle counters live in the cache (shared with the server): every test starts with none."""
    cache.clear()
    yield
    cache.clear()


def token_of(user) -> str:
    return api_key_for(user)


def synced(project_sync) -> SyncRun:
    with tenancy.acting_for_project(project_sync.project_id):  # as the run's task does
        run, _ = services.sync_run_enqueue(project_sync=project_sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
        run = sync_run_execute(run.pk)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


@pytest.fixture
def world(owner, outsider, django_user_model, make_repo, git_cache, fast_model):
    """The owner's project "mine" (main synced; its repository defines compute_invoice_total), a
    viewer member of it, and the outsider's project "theirs", synced too."""
    repo = make_repo()
    repo.write("billing.py", BILLING).write("users.py", USERS).write("README.md", "# Mine\n\nInvoices and users.\n")
    head = repo.commit()
    theirs_repo = make_repo()
    theirs_repo.write("pricing.py", THEIRS).commit()

    with tenancy.acting_as(owner):
        mine = services.project_link(owner=owner, repository=repo.url, branch="main", name="mine")
    with tenancy.acting_as(outsider):
        theirs = services.project_link(owner=outsider, repository=theirs_repo.url, branch="main", name="theirs")
    synced(mine)
    synced(theirs)
    viewer = django_user_model.objects.create_user("viewer", "viewer@example.com", "viewer-password")
    MembershipFactory(project=mine.project, user=viewer, role=Membership.Role.VIEWER)
    return {
        "repo": repo,
        "head": head,
        "mine": mine,
        "theirs": theirs,
        "viewer": viewer,
        "tokens": {"owner": token_of(owner), "outsider": token_of(outsider), "viewer": token_of(viewer)},
    }


# --- the SDK's client ---------------------------------------------------------------------------


def http_client(url: str, token: str | None, *, scheme: str = "Bearer", mode: str = "auto") -> Client:
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300))
    return Client(streamable_http_client(url, http_client=http), mode=mode)


def stdio_client(*args: str, env: dict | None = None) -> Client:
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["manage.py", "mcp", *args],
        cwd=str(settings.BASE_DIR),
        env=child_env(PGAPPNAME=STDIO_APPLICATION_NAME, **(env or {})),
    )
    return Client(parameters)


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")

