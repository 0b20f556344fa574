"""A hardened git client over the git CLI, with a bare cache per repository.

Every repository and branch is hostile: both are validated before any process runs, and git runs
with no user or system config, no hooks, no submodules, only the transports the URL needs, a
wall-clock timeout (the whole process group is killed) and, while fetching, a size limit.

Fetch strategy (measured on a Django-source repository served by `git daemon`, see the tests):
a shallow (depth 1), single-branch fetch with no tags. A fetch a few commits ahead then moves
only the new objects (34 objects, 33 KB instead of 6.4 MB, 0.1 s), and every blob of the commit
is local, so `ls-tree -l` and `cat-file --batch` never go back to the network. A partial clone
(--filter=blob:none) was rejected: each missing blob costs a round trip (400 blobs: 18 s;
`ls-tree -l` over 3,662 files: 3 min 22 s).

The cache of a repository is NYXSYNC_GIT_CACHE_DIR/<sha256 of its URL>; writers hold an flock
on <that>.lock. Readers take no lock: git adds objects atomically and gc keeps unreachable ones
for two weeks, so a fetch never pulls objects from under a reader.

A token for a private repository travels only in the environment of the git process (an
`http.<url>.extraHeader` set through GIT_CONFIG_COUNT), never in a URL, argv, error or log.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import itertools
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from syncs.repository_input import (
    GITHUB_HOST,
    InvalidInput,
    Repository,
    normalize_repository,
    private_networks_allowed,
    public_addresses,
    validate_branch,
)

logger = logging.getLogger(__name__)

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_TOKEN = re.compile(r"[\x21-\x7e]+")  # printable ASCII: a token cannot smuggle in a header line
_POLL_SECONDS = 0.1
_MB = 1024 * 1024
# The only variables a git process inherits; everything else (GIT_*, user config) stays out.
_INHERITED_ENV = (
    "PATH",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "http_proxy",
    "https_proxy",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
)
_HARDENING = (
    "protocol.allow=never",  # the URL's own transport is re-enabled per call
    "core.hooksPath=/dev/null",
    "credential.helper=",
    "core.askPass=",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "core.fsmonitor=false",
    "gc.autoDetach=false",  # a detached gc would outlive the cache lock
    "fetch.unpackLimit=1",  # objects arrive as packs only, so an aborted fetch is easy to undo
)
# What git says (LC_ALL=C) when retrying cannot help, and when it may.
_NOT_FOUND = ("repository not found", "not exported", "does not appear to be a git repository", "authentication failed",
              "could not read username", "returned error: 401", "returned error: 403", "returned error: 404")  # fmt: skip
_UNREACHABLE = ("unable to connect", "could not resolve host", "connection refused", "failed to connect",
                "timed out", "connection reset", "unable to access", "the remote end hung up")  # fmt: skip


class GitError(Exception):
    """A git operation failed; the message is readable and holds no secret.

    `permanent` says whether retrying can help: a missing branch is permanent, a network error is not.
    """

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class TreeEntry:
    path: str  # from bytes: undecodable bytes are kept as surrogates (see path_is_utf8)
    mode: str  # "100644", "100755", "120000" (symlink), "160000" (submodule)
    type: str  # "blob", "symlink" or "commit" (a submodule)
    sha: str
    size: int | None  # None for submodules

    @property
    def path_is_utf8(self) -> bool:
        return not any("\udc80" <= char <= "\udcff" for char in self.path)


class BranchList(list[str]):
    """Branch names, the default branch first; `default` is None when the remote does not say."""

    def __init__(self, names: Iterable[str], default: str | None):
        super().__init__(names)
        self.default = default


# --- public API ---------------------------------------------------------------------------------


def cache_path(url: str) -> Path:
    """The bare cache of a repository (it may not exist yet)."""
    return _cache_of(_repository(url))


def fetch_branch(url: str, branch: str, *, token: str | None = None, timeout: float | None = None) -> str:
    """Fetch the tip of `branch` into the cache and return its commit SHA."""
    branch = _branch(branch)
    remote = _remote(url, token)
    deadline = _Deadline.after(timeout)
    cache = _cache_of(remote.repository)
    log = {"repository": remote.repository.display, "branch": branch}
    started = time.monotonic()
    logger.info("git.fetch.started", extra=log)
    try:
        with _cache_lock(cache, deadline):
            _prepare_cache(cache, deadline)
            sha = _fetch(remote, branch, cache, deadline=deadline)
            _collect_garbage(cache, deadline)
    except GitError as error:
        logger.warning("git.fetch.failed", extra={**log, "error": error.message, "permanent": error.permanent})
        raise
    logger.info("git.fetch.finished", extra={**log, "commit": sha, "seconds": round(time.monotonic() - started, 3)})
    return sha


def remote_head(url: str, branch: str, *, token: str | None = None, timeout: float | None = None) -> str | None:
    """The commit `branch` points to on the remote, or None if there is no such branch."""
    branch = _branch(branch)
    refs, _ = _ls_remote(_remote(url, token), [f"refs/heads/{branch}"], deadline=_Deadline.after(timeout))
    return refs.get(f"refs/heads/{branch}")


def list_branches(url: str, *, token: str | None = None, timeout: float | None = None) -> BranchList:
    """The remote's branches, its default branch first and the rest sorted."""
    refs, default = _ls_remote(_remote(url, token), ["HEAD", "refs/heads/*"], deadline=_Deadline.after(timeout))
    names = sorted(ref.removeprefix("refs/heads/") for ref in refs if ref.startswith("refs/heads/"))
    if default in names:
        names.remove(default)
        names.insert(0, default)
    return BranchList(names, default if default in names else None)


def ls_tree(source: str | Path, commit: str, *, timeout: float | None = None) -> list[TreeEntry]:
    """Every file of `commit` (recursively): blobs, symlinks and submodules with their sizes."""
    cache, display = _existing_cache(source)
    commit = _sha(commit)
    argv = _git(cache, "ls-tree", "-r", "-l", "-z", "--full-tree", "--end-of-options", commit)
    result = _run(argv, env=_env(), deadline=_Deadline.after(timeout), what="ls-tree")
    if result.returncode != 0:
        raise GitError(f"commit {commit} is not in the cache of {display}", permanent=False)
    return [_tree_entry(record) for record in result.stdout.split(b"\0") if record]


def read_blobs(source: str | Path, shas: Iterable[str], *, timeout: float | None = None) -> Iterator[tuple[str, bytes]]:
    """(sha, content) for each blob, in order, streamed from one `git cat-file --batch` process.

    Bad input is refused at the call; `timeout` bounds each answer of git, not the time the caller
    spends between two items.
    """
    cache, display = _existing_cache(source)
    wanted = [_sha(sha) for sha in shas]
    return _stream_blobs(cache, display, wanted, _timeout(timeout))


# --- validation ---------------------------------------------------------------------------------


def _repository(url: str) -> Repository:
    try:
        # No DNS here: only network calls resolve, and they pin what they checked (_remote_config).
        return normalize_repository(url, resolve=False)
    except InvalidInput as error:
        raise GitError(f"invalid repository: {error}", permanent=True) from None


def _cache_of(repository: Repository) -> Path:
    return Path(settings.NYXSYNC_GIT_CACHE_DIR) / hashlib.sha256(repository.url.encode()).hexdigest()


def _branch(branch: str) -> str:
    try:
        return validate_branch(branch)
    except InvalidInput as error:
        raise GitError(f"invalid branch: {error}", permanent=True) from None


def _sha(value: str) -> str:
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        raise GitError("not a commit or object id (40 or 64 lowercase hex digits)", permanent=True)
    return value


def _timeout(timeout: float | None) -> float:
    return float(settings.NYXSYNC_GIT_TIMEOUT_SECONDS if timeout is None else timeout)


@dataclass(frozen=True)
class _Deadline:
    """One wall-clock budget shared by every git process of a call."""

    seconds: float
    at: float

    @classmethod
    def after(cls, timeout: float | None) -> _Deadline:
        seconds = _timeout(timeout)
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()


def _existing_cache(source: str | Path) -> tuple[Path, str]:
    if isinstance(source, Path):
        cache, display = source, str(source)
    else:
        repository = _repository(source)
        cache, display = _cache_of(repository), repository.display
    if not (cache / "HEAD").is_file():
        raise GitError(f"{display} has not been fetched yet", permanent=False)
    return cache, display


# --- running git --------------------------------------------------------------------------------


def _git(cache: Path | None, *args: str, config: Iterable[str] = ()) -> list[str]:
    argv = ["git"]
    if cache is not None:
        argv.append(f"--git-dir={cache}")
    for item in (*_HARDENING, *config):
        argv += ["-c", item]
    return [*argv, *args]


def _env(*, extra: dict[str, str] | None = None) -> dict[str, str]:
    home = _home()
    env = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_PROTOCOL_FROM_USER="0",
        LC_ALL="C",  # English messages, which _transport_error reads
    )
    env.setdefault("PATH", os.defpath)
    return {**env, **(extra or {})}


def _home() -> Path:
    # An empty HOME: no ~/.gitconfig, ~/.netrc or credential store of the user running the worker.
    home = Path(settings.NYXSYNC_GIT_CACHE_DIR) / "home"
    home.mkdir(parents=True, exist_ok=True)
    return home


@dataclass(frozen=True)
class _Remote:
    """A repository ready to connect to: its transport re-enabled, its DNS pinned, the token in env."""

    repository: Repository
    config: tuple[str, ...]
    env: dict[str, str] = field(repr=False)
    token: str | None = field(repr=False)


def _remote(url: str, token: str | None) -> _Remote:
    repository = _repository(url)
    config = tuple(_remote_config(repository))
    return _Remote(repository, config, _env(extra=_auth_env(repository, token)), token)


def _remote_config(repository: Repository) -> list[str]:
    """Re-enable only the URL's transport; pin DNS for https hosts we checked (no rebinding)."""
    scheme = repository.url.split("://", 1)[0]
    config = [f"protocol.{scheme}.allow=always"]
    # GitHub redirects renamed repositories; other hosts may not send us elsewhere.
    config.append(f"http.followRedirects={'initial' if repository.host == GITHUB_HOST else 'false'}")
    if scheme == "https" and repository.host != GITHUB_HOST and not private_networks_allowed(repository.host):
        port = urlsplit(repository.url).port or 443
        addresses = ",".join(f"[{a}]" if ":" in a else a for a in _public_addresses(repository.host, port))
        config.append(f"http.curloptResolve={repository.host}:{port}:{addresses}")
    return config


def _public_addresses(host: str, port: int) -> list[str]:
    try:
        return public_addresses(host, port)
    except InvalidInput as error:
        raise GitError(f"invalid repository: {error}", permanent=True) from None


def _auth_env(repository: Repository, token: str | None) -> dict[str, str]:
    """The token as an Authorization header for this URL only, passed through the environment."""
    if not token:
        return {}
    if not _TOKEN.fullmatch(token):
        raise GitError("the access token contains characters that are not allowed", permanent=True)
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{repository.url}.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def _run(
    argv: list[str],
    *,
    env: dict[str, str],
    deadline: _Deadline,
    what: str,
    watch: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run git to completion; at the deadline, or when `watch` raises, kill its process group."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env, start_new_session=True
        )
        try:
            while process.poll() is None:
                if deadline.remaining() <= 0:
                    raise GitError(f"{what} timed out after {deadline.seconds:g} s", permanent=False)
                if watch is not None:
                    watch()
                try:
                    process.wait(timeout=min(_POLL_SECONDS, max(deadline.remaining(), 0.001)))
                except subprocess.TimeoutExpired:
                    pass
        except BaseException:
            _kill(process)
            raise
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(argv, process.returncode, stdout.read(), stderr.read())


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# --- fetching -----------------------------------------------------------------------------------


@contextmanager
def _cache_lock(cache: Path, deadline: _Deadline):
    """One writer per cache: two workers fetching the same repository would race on refs and packs."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.with_name(cache.name + ".lock"), "w") as handle:
        for attempt in itertools.count():
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 0:
                    logger.info("git.lock.waiting", extra={"cache": cache.name})
                if deadline.remaining() <= 0:
                    raise GitError("timed out waiting for another fetch of this repository", permanent=False) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare_cache(cache: Path, deadline: _Deadline) -> None:
    """Create the bare cache, or clean up after a fetch that was killed (we hold the lock: no git runs)."""
    if (cache / "HEAD").is_file():
        _remove_leftovers(cache)
        return
    shutil.rmtree(cache, ignore_errors=True)
    building = cache.with_name(cache.name + ".init")
    shutil.rmtree(building, ignore_errors=True)
    # No template: nothing (sample hooks, info/exclude) is copied from the system.
    argv = _git(None, "init", "--quiet", "--bare", "--template=", "--", str(building))
    result = _run(argv, env=_env(), deadline=deadline, what="init")
    if result.returncode != 0:
        raise GitError("could not create the repository cache", permanent=False)
    building.rename(cache)  # atomic: a half-made cache is never seen under its real name


def _remove_leftovers(cache: Path) -> None:
    for lock in cache.rglob("*.lock"):
        lock.unlink(missing_ok=True)
    packs = cache / "objects" / "pack"
    for path in packs.glob("tmp_*"):
        path.unlink(missing_ok=True)
    for pack in packs.glob("pack-*.pack"):
        if not pack.with_suffix(".idx").exists():
            pack.unlink(missing_ok=True)


def _fetch(remote: _Remote, branch: str, cache: Path, *, deadline: _Deadline) -> str:
    ref = f"refs/nyxsync/heads/{branch}"
    before = _Snapshot.take(cache, ref)
    limit = settings.NYXSYNC_GIT_MAX_REPO_BYTES
    argv = _git(
        cache,
        "fetch",
        "--quiet",
        "--no-tags",
        "--depth=1",
        "--no-write-fetch-head",
        "--no-auto-maintenance",
        "--recurse-submodules=no",
        "--",
        remote.repository.url,
        f"+refs/heads/{branch}:{ref}",
        config=remote.config,
    )

    def watch() -> None:
        if _tree_bytes(cache) > limit:
            raise GitError(f"repository is larger than the limit of {_megabytes(limit)} MB", permanent=True)

    try:
        result = _run(argv, env=remote.env, deadline=deadline, what="fetch", watch=watch)
        if result.returncode != 0:
            raise _fetch_error(remote, branch, result.stderr, deadline=deadline)
        watch()  # a fast fetch may finish between two polls
    except GitError:
        before.restore(cache, ref)
        raise
    return _resolve(cache, ref)


@dataclass(frozen=True)
class _Snapshot:
    """What a fetch may change in the cache, to put back when the fetch is aborted."""

    packs: frozenset[str]
    shallow: bytes | None
    commit: str | None

    @classmethod
    def take(cls, cache: Path, ref: str) -> _Snapshot:
        shallow = cache / "shallow"
        return cls(
            packs=frozenset(path.name for path in (cache / "objects" / "pack").iterdir()),
            shallow=shallow.read_bytes() if shallow.exists() else None,
            commit=_read_ref(cache, ref),
        )

    def restore(self, cache: Path, ref: str) -> None:
        _remove_leftovers(cache)
        for path in (cache / "objects" / "pack").iterdir():
            if path.name not in self.packs:
                path.unlink(missing_ok=True)
        shallow = cache / "shallow"
        if self.shallow is None:
            shallow.unlink(missing_ok=True)
        else:
            shallow.write_bytes(self.shallow)
        update = ("--no-deref", ref, self.commit) if self.commit else ("-d", ref)
        _run(_git(cache, "update-ref", *update), env=_env(), deadline=_Deadline.after(30), what="update-ref")


def _read_ref(cache: Path, ref: str) -> str | None:
    argv = _git(cache, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    result = _run(argv, env=_env(), deadline=_Deadline.after(30), what="rev-parse")
    return result.stdout.decode().strip() if result.returncode == 0 else None


def _resolve(cache: Path, ref: str) -> str:
    sha = _read_ref(cache, ref)
    if sha is None:
        raise GitError("the fetched branch does not point to a commit", permanent=True)
    return sha


def _collect_garbage(cache: Path, deadline: _Deadline) -> None:
    """Every fetch adds a pack; gc --auto repacks once there are many and drops what no branch needs.

    The fetch has succeeded by now, so a failed or killed gc is only logged (the next fetch cleans up)."""
    try:
        result = _run(_git(cache, "gc", "--auto", "--quiet"), env=_env(), deadline=deadline, what="gc")
    except GitError as error:
        logger.warning("git.gc.failed", extra={"cache": cache.name, "error": error.message})
        return
    if result.returncode != 0:
        logger.warning("git.gc.failed", extra={"cache": cache.name, "returncode": result.returncode})


def _fetch_error(remote: _Remote, branch: str, stderr: bytes, *, deadline: _Deadline) -> GitError:
    display = remote.repository.display
    if b"couldn't find remote ref" in stderr:
        refs, _ = _ls_remote(remote, [], deadline=deadline)
        if not refs:
            return GitError(f"repository {display} is empty (it has no commits)", permanent=True)
        return GitError(f"branch '{branch}' not found in {display}", permanent=True)
    return _transport_error(remote, stderr, what="fetch")


def _transport_error(remote: _Remote, stderr: bytes, *, what: str) -> GitError:
    message = stderr.decode("utf-8", "replace")
    lowered = message.lower()
    display = remote.repository.display
    if any(marker in lowered for marker in _NOT_FOUND):
        return GitError(f"repository not found or not reachable: {display}", permanent=True)
    if any(marker in lowered for marker in _UNREACHABLE):
        return GitError(f"repository not found or not reachable: {display}", permanent=False)
    last = _scrub(message.strip().splitlines()[-1] if message.strip() else "no message", remote.token)
    return GitError(f"git {what} failed for {display}: {last[:300]}", permanent=False)


def _scrub(text: str, token: str | None) -> str:
    if token:
        for secret in (token, base64.b64encode(f"x-access-token:{token}".encode()).decode()):
            text = text.replace(secret, "***")
    return text


def _tree_bytes(root: Path) -> int:
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except FileNotFoundError:
                pass  # git renamed or removed it while we counted
    return total


def _megabytes(size: int) -> str:
    return f"{round(size / _MB, 1):g}"


# --- reading the remote -------------------------------------------------------------------------


def _ls_remote(remote: _Remote, patterns: list[str], *, deadline: _Deadline) -> tuple[dict[str, str], str | None]:
    """(ref -> sha, default branch) from `git ls-remote --symref`."""
    argv = _git(None, "ls-remote", "--symref", "--", remote.repository.url, *patterns, config=remote.config)
    result = _run(argv, env=remote.env, deadline=deadline, what="ls-remote")
    if result.returncode != 0:
        raise _transport_error(remote, result.stderr, what="ls-remote")
    refs, default = {}, None
    for line in result.stdout.decode("utf-8", "surrogateescape").splitlines():
        target, _, name = line.partition("\t")
        if target.startswith("ref: ") and name == "HEAD":
            default = target.removeprefix("ref: ").removeprefix("refs/heads/")
        elif _SHA.fullmatch(target):
            refs[name] = target
    return refs, default


# --- reading the cache --------------------------------------------------------------------------


def _tree_entry(record: bytes) -> TreeEntry:
    meta, _, path = record.partition(b"\t")
    mode, kind, sha, size = meta.decode("ascii").split()
    if mode == "120000":
        kind = "symlink"
    return TreeEntry(
        path=path.decode("utf-8", "surrogateescape"),
        mode=mode,
        type=kind,
        sha=sha,
        size=None if size == "-" else int(size),
    )


def _stream_blobs(cache: Path, display: str, shas: list[str], timeout: float) -> Iterator[tuple[str, bytes]]:
    argv = _git(cache, "cat-file", "--batch")
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=_env(), start_new_session=True
        )
        # A thread writes the requests: writing them all before reading would fill both pipes.
        writer = threading.Thread(target=_write_lines, args=(process.stdin, shas), daemon=True)
        writer.start()
        reader = _TimedReader(process.stdout.fileno(), timeout)
        try:
            for sha in shas:
                yield sha, _read_blob(reader, sha, display)
        finally:
            _kill(process)
            writer.join()
            process.stdout.close()


def _write_lines(pipe, lines: list[str]) -> None:
    # BrokenPipeError, ValueError: git was stopped (the caller stopped reading); nothing left to send.
    with contextlib.suppress(BrokenPipeError, ValueError):
        for line in lines:
            pipe.write(f"{line}\n".encode())
    with contextlib.suppress(BrokenPipeError, ValueError):
        pipe.close()


def _read_blob(reader: _TimedReader, sha: str, display: str) -> bytes:
    header = reader.readline().decode("ascii", "replace").split()
    if header[1:] == ["missing"]:
        raise GitError(f"object {sha} is missing from the cache of {display}", permanent=False)
    if len(header) != 3 or header[0] != sha:
        raise GitError(f"unexpected answer from git cat-file for {sha}", permanent=False)
    if header[1] != "blob":
        raise GitError(f"object {sha} is a {header[1]}, not a blob", permanent=True)
    content = reader.read(int(header[2]))
    reader.read(1)  # the newline after each object
    return content


class _TimedReader:
    """Buffered reads from a pipe, each bounded by `timeout` seconds of silence."""

    def __init__(self, fd: int, timeout: float):
        self._fd = fd
        self._timeout = timeout
        self._buffer = bytearray()

    def readline(self) -> bytes:
        deadline = time.monotonic() + self._timeout
        while (end := self._buffer.find(b"\n")) < 0:
            self._fill(deadline)
        return self._take(end + 1)

    def read(self, size: int) -> bytes:
        deadline = time.monotonic() + self._timeout
        while len(self._buffer) < size:
            self._fill(deadline)
        return self._take(size)

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self._fd], [], [], remaining)[0]:
            raise GitError(f"git cat-file timed out after {self._timeout:g} s", permanent=False)
        chunk = os.read(self._fd, 1 << 20)
        if not chunk:
            raise GitError("git cat-file stopped before answering", permanent=False)
        self._buffer += chunk
