"""Fixtures for the page tests: logged-in clients per persona, a synced project, and a local
stand-in for the GitHub REST API (the branch picker asks it about owner/name repositories)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from syncs import services
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute


@pytest.fixture
def fast_model(settings):
    """hashing-256: a real, fast model (no torch), so a sync or a search takes milliseconds."""
    settings.NYXSYNC_EMBEDDING_MODEL = "hashing-256"
    return "hashing-256"


@pytest.fixture
def owner_client(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(outsider) -> Client:
    client = Client()
    client.force_login(outsider)
    return client


@pytest.fixture
def demo_repo(make_repo):
    repo = make_repo()
    repo.write("app/billing.py", "def compute_invoice_total(lines):\n    return sum(line.amount for line in lines)\n")
    repo.write("app/users.py", "class UserRepository:\n    def find_by_email(self, email):\n        return self.db.get(email=email)\n")
    repo.write("README.md", "# Demo\n\nA small <b>demo</b> project.\n")
    repo.commit()
    repo.checkout("feature/x")
    repo.write("app/feature.py", "def feature_flag():\n    return True\n")
    repo.commit()
    repo.checkout("main")
    return repo


@pytest.fixture
def linked(owner, demo_repo, fast_model):
    """The owner's project for demo_repo, branch main, never synced."""
    return services.project_sync_link(owner=owner, repository=demo_repo.url, branch="main")


@pytest.fixture
def synced(linked, git_cache) -> SyncRun:
    """demo_repo's main synced once, in this process (no worker, no events)."""
    run, _ = services.sync_run_enqueue(project_sync=linked, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    run = sync_run_execute(run.pk)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    linked.refresh_from_db()
    return run


class _GitHubHandler(BaseHTTPRequestHandler):
    """GET /repos/<owner>/<name> and /repos/<owner>/<name>/branches for the repositories in
    `server.repos` ({"owner/name": (default, [branches])}); anything else is GitHub's 404."""

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        full_name = "/".join(parts[1:3])
        repo = self.server.repos.get(full_name) if parts[0] == "repos" else None
        if repo is None:
            return self._send(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        default, branches = repo
        if len(parts) == 3:
            owner, name = full_name.split("/")
            return self._send(200, {
                "id": 1, "name": name, "full_name": full_name, "owner": {"login": owner},
                "default_branch": default, "private": False, "url": f"{base}/repos/{full_name}",
            })
        if parts[3:] == ["branches"]:
            return self._send(200, [{"name": branch, "commit": {"sha": "0" * 40}, "protected": False} for branch in branches])
        return self._send(404, {"message": "Not Found"})

    def _send(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture(scope="session")
def _github_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GitHubHandler)
    server.repos = {}
    thread = threading.Thread(target=server.serve_forever, name="github-standin", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def github_api(_github_server, settings):
    """The stand-in GitHub API; `github_api.repos["owner/name"] = (default, [branches])`."""
    settings.GITHUB_API_URL = f"http://127.0.0.1:{_github_server.server_address[1]}"
    settings.GITHUB_TOKEN = ""
    _github_server.repos.clear()
    yield _github_server
    _github_server.repos.clear()
