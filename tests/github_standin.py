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

It is also the GitHub web host (GITHUB_URL) for "Connect GitHub" and for clones:

      github_api.add_user("alice", token="gho_alice")   # a GitHub account and the token OAuth gives it
      github_api.authorizing = "alice"                  # who is signed in to the stand-in's GitHub
      github_api.add_repo("corp/secret", bare=repo.bare, private=True, tokens={"gho_alice"})
      github_api.revoke("gho_alice")                    # the user lost access on GitHub

- OAuth web flow of an OAuth App: GET /login/oauth/authorize (a consent page whose button
  approves as `authorizing`, then redirects to redirect_uri with code and the same state), POST
  /login/oauth/access_token (code -> token, JSON; a code works once, for its client).
- REST: GET /user, GET /user/repos (the repositories the token may read, paginated with Link
  headers, `private` and `visibility` set).
- git smart HTTP at /<owner>/<name>.git: a public repository for anybody; a private one for a
  token allowed to read it (sent as git sends it: Basic x-access-token:<token>), else 401 without
  credentials and 404 with others, as GitHub answers.
"""

from __future__ import annotations

import base64
import html
import json
import os
import secrets
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

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


OAUTH_CLIENT_ID = "standin-client"
OAUTH_CLIENT_SECRET = "standin-secret"


class GitHubStandIn:
    def __init__(self):
        self.repos: dict[str, StandInRepo] = {}
        self.known_tokens: set[str] = set()
        self.users: dict[str, str] = {}  # token -> login
        self.authorizing: str | None = None  # the login signed in to the stand-in's web pages
        self.codes: dict[str, tuple[str, str]] = {}  # OAuth code -> (client id, token)
        self.requests: list[tuple[str, str, bool]] = []
        self.tokens_seen: list[tuple[str, str]] = []  # (path, token) of every request that carried one
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
        self.users.clear()
        self.codes.clear()
        self.authorizing = None
        self.requests.clear()
        self.tokens_seen.clear()

    def add_user(self, login: str, *, token: str) -> None:
        self.users[token] = login
        self.known_tokens.add(token)

    def revoke(self, token: str) -> None:
        """The token's access is withdrawn on GitHub: every repository forgets it."""
        for repo in self.repos.values():
            repo.tokens.discard(token)

    def may_read(self, repo: StandInRepo, token: str | None) -> bool:
        return not repo.private or (token is not None and token in repo.tokens)

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
        if parts == ["user"]:
            if token not in self.users:
                return 401, {"message": "Requires authentication", "status": "401"}, {}
            login = self.users[token]
            return 200, {"login": login, "id": abs(hash(login)) % 10**8, "type": "User"}, {}
        if parts == ["user", "repos"]:
            if token not in self.users:
                return 401, {"message": "Requires authentication", "status": "401"}, {}
            login = self.users[token]
            readable = [repo for repo in self.repos.values() if token in repo.tokens or repo.full_name.split("/")[0] == login]
            return self._page(sorted(readable, key=lambda repo: repo.full_name), path, query, self._repository)
        if len(parts) < 3 or parts[0] != "repos":
            return 404, _not_found(), {}
        repo = self.repos.get(f"{parts[1]}/{parts[2]}".lower())
        if repo is None or not self.may_read(repo, token):
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
        names = sorted(branches)  # GitHub lists branches in name order
        return self._page(names, path, query, lambda name: self._branch(repo, name, branches[name]))

    def _page(self, items: list, path: str, query: dict[str, list[str]], render) -> tuple[int, object, dict]:
        try:
            per_page = min(max(int(query.get("per_page", ["30"])[0]), 1), 100)
            page = max(int(query.get("page", ["1"])[0]), 1)
        except ValueError:
            return 422, {"message": "Validation Failed", "status": "422"}, {}
        last = max((len(items) + per_page - 1) // per_page, 1)
        items = [render(item) for item in items[(page - 1) * per_page : page * per_page]]
        links = []
        if page < last:
            links += [f'<{self._page_url(path, per_page, page + 1)}>; rel="next"', f'<{self._page_url(path, per_page, last)}>; rel="last"']
        if page > 1:
            links += [f'<{self._page_url(path, per_page, 1)}>; rel="first"', f'<{self._page_url(path, per_page, page - 1)}>; rel="prev"']
        return 200, items, ({"Link": ", ".join(links)} if links else {})

    def _page_url(self, path: str, per_page: int, page: int) -> str:
        return f"{self.url}{quote(path)}?per_page={per_page}&page={page}"


    # --- the web host: OAuth pages and git ------------------------------------------------------

    def authorize_page(self, query: dict[str, list[str]]) -> tuple[int, str, dict]:
        """GitHub's consent page: "Authorize <app>" for the signed-in account."""
        client_id = query.get("client_id", [""])[0]
        if client_id != OAUTH_CLIENT_ID or not query.get("redirect_uri"):
            return 404, "<h1>Not Found</h1>", {}
        if self.authorizing is None:
            return 200, "<h1>Sign in to GitHub</h1><p>Nobody is signed in to the stand-in.</p>", {}
        approve = "/login/oauth/authorize/approve?" + urlencode({name: values[0] for name, values in query.items()})
        page = (
            f"<!doctype html><title>Authorize application</title><h1>Authorize nyxsync</h1>"
            f"<p>Signed in as <strong>{html.escape(self.authorizing)}</strong>; nyxsync asks for: "
            f"{html.escape(query.get('scope', [''])[0])}</p><a id='approve' href='{html.escape(approve)}'>Authorize</a>"
        )
        return 200, page, {}

    def approve(self, query: dict[str, list[str]]) -> tuple[int, str, dict]:
        token = next((token for token, login in self.users.items() if login == self.authorizing), None)
        if token is None:
            return 404, "<h1>Not Found</h1>", {}
        code = secrets.token_hex(10)
        self.codes[code] = (query["client_id"][0], token)
        redirect = query["redirect_uri"][0]
        params = {"code": code, **({"state": query["state"][0]} if "state" in query else {})}
        return 302, "", {"Location": f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(params)}"}

    def exchange(self, form: dict[str, list[str]]) -> dict:
        code = form.get("code", [""])[0]
        client = self.codes.pop(code, None)  # a code works once
        if form.get("client_id", [""])[0] != OAUTH_CLIENT_ID or form.get("client_secret", [""])[0] != OAUTH_CLIENT_SECRET:
            return {"error": "incorrect_client_credentials", "error_description": "The client_id and/or client_secret passed are incorrect."}
        if client is None or client[0] != OAUTH_CLIENT_ID:
            return {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}
        return {"access_token": client[1], "token_type": "bearer", "scope": "repo,read:user"}

    def git_repository(self, path: str) -> tuple[StandInRepo | None, str]:
        """(repository, path inside it) for /<owner>/<name>.git/<rest>."""
        parts = path.split("/", 3)
        if len(parts) < 4 or not parts[2].endswith(".git"):
            return None, ""
        return self.repos.get(f"{parts[1]}/{parts[2].removesuffix('.git')}".lower()), "/" + parts[3]


def _git_token(authorization: str) -> str | None:
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credential).decode().partition(":")[2] or None
        except ValueError:
            return None
    return credential.strip() or None if scheme.lower() in ("token", "bearer") else None


def _not_found() -> dict:
    return {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        standin: GitHubStandIn = self.server.standin  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        if parts.path.startswith("/login/oauth/"):
            return self._oauth(standin, parts)
        repo, inside = standin.git_repository(parts.path)
        if repo is not None and repo.bare is not None:
            return self._git(standin, repo, inside, parts.query)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # keep the connection usable
        authorization = self.headers.get("Authorization", "")
        scheme, _, credential = authorization.partition(" ")
        token = credential.strip() if scheme.lower() in ("token", "bearer") and credential.strip() else None
        if authorization and token is None:
            token = ""  # present but not a token: refused as bad credentials
        standin.requests.append((self.command, self.path, bool(authorization)))
        if token:
            standin.tokens_seen.append((self.path, token))
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

    def _oauth(self, standin: GitHubStandIn, parts) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        standin.requests.append((self.command, parts.path, False))
        query = parse_qs(parts.query)
        if parts.path == "/login/oauth/access_token" and self.command == "POST":
            return self._send(200, json.dumps(standin.exchange(parse_qs(body.decode()))).encode(), "application/json; charset=utf-8", {})
        if parts.path == "/login/oauth/authorize":
            status, page, headers = standin.authorize_page(query)
        elif parts.path == "/login/oauth/authorize/approve":
            status, page, headers = standin.approve(query)
        else:
            status, page, headers = 404, "<h1>Not Found</h1>", {}
        self._send(status, page.encode(), "text/html; charset=utf-8", headers)

    def _git(self, standin: GitHubStandIn, repo: StandInRepo, inside: str, query: str) -> None:
        from tests.gitserver import git_http_backend, read_request_body

        body = read_request_body(self)
        authorization = self.headers.get("Authorization", "")
        token = _git_token(authorization)
        standin.requests.append((self.command, self.path, bool(authorization)))
        if token:
            standin.tokens_seen.append((self.path, token))
        if not standin.may_read(repo, token):
            if not authorization:
                return self._send(401, b"Authentication required\n", "text/plain", {"WWW-Authenticate": 'Basic realm="GitHub"'})
            return self._send(404, b"Repository not found.\n", "text/plain", {})
        status, fields, payload = git_http_backend(repo.bare.parent, f"/{repo.bare.name}{inside}", query, self, body)
        self.send_response(status)
        for name, value in fields:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

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
    settings.GITHUB_OAUTH_CLIENT_ID = OAUTH_CLIENT_ID
    settings.GITHUB_OAUTH_CLIENT_SECRET = OAUTH_CLIENT_SECRET
    yield github_standin
    github_standin.reset()
