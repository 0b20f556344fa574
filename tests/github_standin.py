"""A small, honest stand-in for the GitHub REST API on 127.0.0.1, for what nyxsync asks of it
through PyGithub: repository metadata (`get_repo`, `.default_branch`) and branches
(`get_branches`, paginated with Link headers like GitHub's).

Fixtures (registered for the whole suite in tests/conftest.py):

- `github_standin` (session): the server. `github_standin.url` is its base URL.
- `github_api` (function): points settings.GITHUB_API_URL at the server (no GITHUB_TOKEN) and
  starts with no repositories:

      github_api.add_repo("octo/demo", bare=repo.bare)        # branches read live from a real repo
      github_api.add_repo("octo/tiny", branches={"main": sha}) # or given
      github_api.add_repo("octo/secret", branches=..., private=True, tokens={"ghp_ok"})
      github_api.requests  # [(method, path, had_authorization), ...]

Like GitHub: an unknown repository, or a private one without a token allowed to read it, is 404
(never 403); a token GitHub does not know is 401 "Bad credentials".
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

_CLEAN_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}


@dataclass
class StandInRepo:
    full_name: str
    bare: Path | None = None
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit sha
    default_branch: str = "main"
    private: bool = False
    tokens: set[str] = field(default_factory=set)  # tokens that may read it (private repositories)

    def current_branches(self) -> tuple[dict[str, str], str]:
        """(name -> sha, default branch), from the bare repository when there is one."""
        if self.bare is None:
            return dict(self.branches), self.default_branch
        git = ["git", f"--git-dir={self.bare}"]
        env = {**os.environ, **_CLEAN_GIT_ENV}
        refs = subprocess.run(
            [*git, "for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/heads"],
            capture_output=True, text=True, check=True, env=env,
        ).stdout  # fmt: skip
        head = subprocess.run([*git, "symbolic-ref", "--short", "HEAD"], capture_output=True, text=True, env=env).stdout
        return dict(line.split(" ", 1) for line in refs.splitlines()), head.strip() or self.default_branch


class GitHubStandIn:
    def __init__(self):
        self.repos: dict[str, StandInRepo] = {}
        self.known_tokens: set[str] = set()
        self.requests: list[tuple[str, str, bool]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.standin = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="github-standin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def reset(self) -> None:
        self.repos.clear()
        self.known_tokens.clear()
        self.requests.clear()

    def add_repo(self, full_name: str, **kwargs) -> StandInRepo:
        repo = StandInRepo(full_name, **kwargs)
        self.repos[full_name.lower()] = repo  # GitHub names are case-insensitive
        self.known_tokens |= repo.tokens
        return repo

    # --- the API ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], token: str | None) -> tuple[int, object, dict]:
        if method != "GET":
            return 404, _not_found(), {}
        if token is not None and token not in self.known_tokens:
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}, {}
        parts = [part for part in path.split("/") if part]
        if len(parts) < 3 or parts[0] != "repos":
            return 404, _not_found(), {}
        repo = self.repos.get(f"{parts[1]}/{parts[2]}".lower())
        if repo is None or (repo.private and token not in repo.tokens):
            return 404, _not_found(), {}
        rest = parts[3:]
        if not rest:
            return 200, self._repository(repo), {}
        if rest == ["branches"]:
            return self._branches_page(repo, path, query)
        if rest[0] == "branches" and len(rest) >= 2:
            branches, _ = repo.current_branches()
            name = "/".join(rest[1:])
            if name in branches:
                return 200, self._branch(repo, name, branches[name]), {}
            return 404, {"message": "Branch not found", "status": "404"}, {}
        return 404, _not_found(), {}

    def _repository(self, repo: StandInRepo) -> dict:
        owner, name = repo.full_name.split("/")
        _, default = repo.current_branches()
        api = f"{self.url}/repos/{repo.full_name}"
        return {
            "id": abs(hash(repo.full_name)) % 10**8,
            "node_id": "R_standin",
            "name": name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": {"login": owner, "id": abs(hash(owner)) % 10**8, "type": "User", "url": f"{self.url}/users/{owner}"},
            "html_url": f"https://github.com/{repo.full_name}",
            "url": api,
            "branches_url": f"{api}/branches{{/branch}}",
            "clone_url": f"https://github.com/{repo.full_name}.git",
            "default_branch": default,
            "visibility": "private" if repo.private else "public",
            "archived": False,
            "disabled": False,
            "fork": False,
        }

    def _branch(self, repo: StandInRepo, name: str, sha: str) -> dict:
        api = f"{self.url}/repos/{repo.full_name}"
        return {"name": name, "commit": {"sha": sha, "url": f"{api}/commits/{sha}"}, "protected": False}

    def _branches_page(self, repo: StandInRepo, path: str, query: dict[str, list[str]]) -> tuple[int, object, dict]:
        branches, _ = repo.current_branches()
        try:
            per_page = min(max(int(query.get("per_page", ["30"])[0]), 1), 100)
            page = max(int(query.get("page", ["1"])[0]), 1)
        except ValueError:
            return 422, {"message": "Validation Failed", "status": "422"}, {}
        names = sorted(branches)  # GitHub lists branches in name order
        last = max((len(names) + per_page - 1) // per_page, 1)
        items = [self._branch(repo, name, branches[name]) for name in names[(page - 1) * per_page : page * per_page]]
        links = []
        if page < last:
            links += [f'<{self._page_url(path, per_page, page + 1)}>; rel="next"', f'<{self._page_url(path, per_page, last)}>; rel="last"']
        if page > 1:
            links += [f'<{self._page_url(path, per_page, 1)}>; rel="first"', f'<{self._page_url(path, per_page, page - 1)}>; rel="prev"']
        return 200, items, ({"Link": ", ".join(links)} if links else {})

    def _page_url(self, path: str, per_page: int, page: int) -> str:
        return f"{self.url}{quote(path)}?per_page={per_page}&page={page}"


def _not_found() -> dict:
    return {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        standin: GitHubStandIn = self.server.standin  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # keep the connection usable
        parts = urlsplit(self.path)
        authorization = self.headers.get("Authorization", "")
        scheme, _, credential = authorization.partition(" ")
        token = credential.strip() if scheme.lower() in ("token", "bearer") and credential.strip() else None
        if authorization and token is None:
            token = ""  # present but not a token: refused as bad credentials
        standin.requests.append((self.command, self.path, bool(authorization)))
        status, payload, headers = standin.handle(self.command, parts.path, parse_qs(parts.query), token)
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args) -> None:
        pass  # keep test output quiet


@pytest.fixture(scope="session")
def github_standin():
    server = GitHubStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def github_api(github_standin, settings):
    """The stand-in, empty, with settings.GITHUB_API_URL pointing at it and no GITHUB_TOKEN."""
    github_standin.reset()
    settings.GITHUB_API_URL = github_standin.url
    settings.GITHUB_TOKEN = ""
    yield github_standin
    github_standin.reset()
