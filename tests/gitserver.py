"""Real git servers on 127.0.0.1 for tests, and a builder for the repositories they serve.

Fixtures (registered for the whole suite in tests/conftest.py):

- `git_daemon` (session): `git daemon` serving `git://127.0.0.1:<port>/<name>.git`, push enabled.
  `git_daemon.url("demo")`, `git_daemon.create_repo("demo") -> Path` (an empty bare repository).
- `git_http` (session): `git http-backend` behind a small HTTP server, serving the same
  repositories at `http://127.0.0.1:<port>/<name>.git` (clone, fetch and push).
  `git_http.requests` records (method, path, headers) of every request; set `git_http.on_request`
  to a callable(headers) to run code while a git client waits for an answer.
- `make_repo` (function): `make_repo() -> RepoBuilder`, a new repository served by both servers:

      repo = make_repo()
      repo.write("README.md", "hello").symlink("link", "README.md")
      sha = repo.commit("first")          # committed and pushed; same content, same SHA
      fetch_branch(repo.url, "main")      # or git_http.url(repo.name)

- `git_cache` (function): points NYXSYNC_GIT_CACHE_DIR at a fresh temporary directory.
- `git_served_root` (session): the directory both servers serve; `create_bare_repo(root, name)`.

Each pytest-xdist worker runs its own servers on free ports; both stop at the end of the session.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# Builders run git without the user's or the system's config.
_CLEAN_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}
_EPOCH = 1_700_000_000  # commit dates start here and move one minute per commit


def _git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_CLEAN_GIT_ENV, **(env or {})},
        capture_output=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode().strip()


def create_bare_repo(root: Path, name: str) -> Path:
    """An empty bare repository `<root>/<name>.git` whose HEAD is main, fetchable with filters."""
    path = root / f"{name}.git"
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    _git("config", "uploadpack.allowFilter", "true", cwd=path)
    _git("config", "http.receivepack", "true", cwd=path)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, *, process: subprocess.Popen | None = None, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class GitDaemon:
    """`git daemon` on 127.0.0.1 serving every repository under `root`."""

    def __init__(self, root: Path):
        self.root = root
        self.port = 0
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        # The free port may be taken between probe and bind: try a few.
        for _ in range(5):
            self.port = free_port()
            with open(self.root.parent / f"git-daemon-{self.port}.log", "wb") as log:
                self._process = subprocess.Popen(
                    [
                        "git",
                        "daemon",
                        "--reuseaddr",
                        f"--base-path={self.root}",
                        "--export-all",
                        "--enable=receive-pack",
                        "--listen=127.0.0.1",
                        f"--port={self.port}",
                        str(self.root),
                    ],
                    env={**os.environ, **_CLEAN_GIT_ENV},
                    stdout=log,
                    stderr=log,
                    start_new_session=True,  # stop() kills the daemon and the children it forks
                )
            try:
                wait_for_port(self.port, process=self._process)
                return
            except RuntimeError:
                self.stop()
        raise RuntimeError("git daemon did not start")

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout=5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def create_repo(self, name: str) -> Path:
        return create_bare_repo(self.root, name)


class GitHttp:
    """`git http-backend` (CGI) behind a threaded HTTP server on 127.0.0.1."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.on_request: Callable[[dict[str, str]], None] | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _GitHttpHandler)
        self._server.git = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="git-http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        wait_for_port(self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"


def read_request_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() != "chunked":
        return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    # git sends large requests (big pushes) chunked.
    chunks = []
    while size := int(handler.rfile.readline().split(b";")[0], 16):
        chunks.append(handler.rfile.read(size))
        handler.rfile.readline()
    handler.rfile.readline()
    return b"".join(chunks)


def git_http_backend(root: Path, path: str, query: str, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list, bytes]:
    """One request through `git http-backend` (CGI) for the repositories under `root`:
    (status, header fields, payload)."""
    env = {
        **os.environ,
        **_CLEAN_GIT_ENV,
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REMOTE_USER": "tests",  # lets clients push
        "REMOTE_ADDR": handler.client_address[0],
        "REQUEST_METHOD": handler.command,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "GIT_PROTOCOL": handler.headers.get("Git-Protocol", ""),
        "HTTP_CONTENT_ENCODING": handler.headers.get("Content-Encoding", ""),
    }
    result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120)
    head, _, payload = result.stdout.partition(b"\r\n\r\n")
    status, fields = 200, []
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(": ")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name:
            fields.append((name, value))
    return status, fields, payload


class _GitHttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the connection closes after each answer: no Content-Length needed

    def do_GET(self) -> None:
        git: GitHttp = self.server.git  # type: ignore[attr-defined]
        headers = dict(self.headers.items())
        git.requests.append((self.command, self.path, headers))
        if git.on_request is not None:
            git.on_request(headers)
        body = read_request_body(self)
        path, _, query = self.path.partition("?")
        status, fields, payload = git_http_backend(git.root, path, query, self, body)
        self.send_response(status)
        for name, value in fields:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET

    def log_message(self, format: str, *args) -> None:
        pass  # keep test output quiet


class RepoBuilder:
    """A work tree whose commits are pushed to a served bare repository, with deterministic SHAs.

    Methods that change files return the builder, so calls chain; `commit` returns the SHA.
    """

    def __init__(self, work: Path, bare: Path, url: str):
        self.work = work
        self.bare = bare
        self.url = url
        self.name = bare.name.removesuffix(".git")
        self.branch = "main"
        self._commits = itertools.count()
        work.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run git in the work tree and return its output."""
        return _git(*args, cwd=self.work, env=env)

    def write(self, path: str, content: str | bytes) -> RepoBuilder:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        target.write_bytes(content)
        return self

    def delete(self, path: str) -> RepoBuilder:
        self.git("rm", "--quiet", "-r", "--", path)
        return self

    def rename(self, old: str, new: str) -> RepoBuilder:
        (self.work / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", "--", old, new)
        return self

    def symlink(self, path: str, target: str) -> RepoBuilder:
        link = self.work / path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
        return self

    def submodule(self, path: str, commit: str) -> RepoBuilder:
        """A gitlink (mode 160000) entry, as a submodule leaves in its parent's tree."""
        (self.work / path).mkdir(parents=True, exist_ok=True)  # an uninitialised submodule's empty folder
        self.git("update-index", "--add", "--cacheinfo", f"160000,{commit},{path}")
        return self

    def copy_tree(self, source: Path, dest: str = ".") -> RepoBuilder:
        """Copy a real directory (say, a package from .venv) into the work tree, minus bytecode."""
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".git")
        shutil.copytree(source, self.work / dest, symlinks=True, ignore=ignore, dirs_exist_ok=True)
        return self

    def checkout(self, branch: str) -> RepoBuilder:
        """Switch to `branch`, creating it from the current commit if it does not exist."""
        exists = branch in self.git("branch", "--format=%(refname:short)").splitlines()
        self.git("checkout", "--quiet", *(() if exists else ("-b",)), branch)
        self.branch = branch
        return self

    def commit(self, message: str = "commit", *, push: bool = True) -> str:
        """Commit everything in the work tree (pushed unless push=False) and return the SHA."""
        moment = f"@{_EPOCH + 60 * next(self._commits)} +0000"
        identity = {
            "GIT_AUTHOR_NAME": "Test Author",
            "GIT_AUTHOR_EMAIL": "author@example.com",
            "GIT_AUTHOR_DATE": moment,
            "GIT_COMMITTER_NAME": "Test Author",
            "GIT_COMMITTER_EMAIL": "author@example.com",
            "GIT_COMMITTER_DATE": moment,
        }
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "--no-verify", "-m", message, env=identity)
        if push:
            self.push()
        return self.head

    def push(self) -> None:
        self.git("push", "--quiet", "--force", str(self.bare), f"HEAD:refs/heads/{self.branch}")

    @property
    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


@pytest.fixture(scope="session")
def git_served_root(tmp_path_factory) -> Path:
    """The directory both git servers serve repositories from."""
    root = tmp_path_factory.mktemp("git-served") / "repos"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def git_daemon(git_served_root):
    daemon = GitDaemon(git_served_root)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def git_http(git_served_root):
    server = GitHttp(git_served_root)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_repo(git_daemon, tmp_path) -> Callable[..., RepoBuilder]:
    """make_repo(name=None) -> RepoBuilder for a new repository served by git_daemon (and git_http)."""

    def make(name: str | None = None) -> RepoBuilder:
        name = name or f"repo-{uuid.uuid4().hex[:12]}"
        bare = git_daemon.create_repo(name)
        return RepoBuilder(tmp_path / "work" / name, bare, git_daemon.url(name))

    return make


@pytest.fixture
def git_cache(settings, tmp_path) -> Path:
    """A fresh, empty NYXSYNC_GIT_CACHE_DIR for this test."""
    settings.NYXSYNC_GIT_CACHE_DIR = tmp_path / "git-cache"
    return settings.NYXSYNC_GIT_CACHE_DIR
