"""Running git hardened: the argv and environment every git process gets (no user or system
config, no hooks, only the transports a URL needs), the remote a fetch connects to (its DNS
pinned, the token only in the process's environment), one wall-clock deadline per call (the
whole process group is killed at it) and the streamed reads of `git cat-file --batch`.
repositories.git builds its operations from these."""

from __future__ import annotations

import base64
import contextlib
import os
import resource
import select
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from repositories.input import GITHUB_HOST, InvalidInput, Repository, private_networks_allowed, public_addresses
from repositories.tokens import token_is_sendable

_POLL_SECONDS = 0.1
# The only variables a git process inherits; everything else (GIT_*, user config) stays out. No
# proxy variable either: a proxy resolves the host itself, past the addresses we checked and pinned
# (http.curloptResolve). A deployment that must go through one names it (NYXSYNC_GIT_PROXY), and
# that proxy must then refuse private networks itself.
_INHERITED_ENV = ("PATH", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")
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


class GitError(Exception):
    """A git operation failed; the message is readable and holds no secret.

    `permanent` says whether retrying can help: a missing branch is permanent, a network error is not.
    """

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def timeout_seconds(timeout: float | None) -> float:
    return float(settings.NYXSYNC_GIT_TIMEOUT_SECONDS if timeout is None else timeout)


@dataclass(frozen=True)
class Deadline:
    """One wall-clock budget shared by every git process of a call."""

    seconds: float
    at: float

    @classmethod
    def after(cls, timeout: float | None) -> Deadline:
        seconds = timeout_seconds(timeout)
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()


# --- running git --------------------------------------------------------------------------------


def git_argv(cache: Path | None, *args: str, config: Iterable[str] = ()) -> list[str]:
    argv = ["git"]
    if cache is not None:
        argv.append(f"--git-dir={cache}")
    for item in (*_HARDENING, *config):
        argv += ["-c", item]
    return [*argv, *args]


def git_env(*, extra: dict[str, str] | None = None) -> dict[str, str]:
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
class Remote:
    """A repository ready to connect to: its transport re-enabled, its DNS pinned, the token in env."""

    repository: Repository
    config: tuple[str, ...]
    env: dict[str, str] = field(repr=False)
    token: str | None = field(repr=False)


def remote_for(repository: Repository, token: str | None) -> Remote:
    config = tuple(remote_config(repository))
    return Remote(repository, config, git_env(extra=_auth_env(repository, token)), token)


def remote_config(repository: Repository) -> list[str]:
    """Re-enable only the URL's transport; pin DNS for https hosts we checked (no rebinding)."""
    scheme = repository.url.split("://", 1)[0]
    # http.proxy empty: no proxy from any git config either, unless the deployment names one.
    config = [f"protocol.{scheme}.allow=always", f"http.proxy={settings.NYXSYNC_GIT_PROXY}"]
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
    if not token_is_sendable(token):
        raise GitError("the access token contains characters that are not allowed", permanent=True)
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{repository.url}.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def run_git(
    argv: list[str],
    *,
    env: dict[str, str],
    deadline: Deadline,
    what: str,
    watch: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run git to completion; at the deadline, or when `watch` raises, kill its process group.
    Its output goes to files, not memory: more than NYXSYNC_GIT_MAX_OUTPUT_BYTES is refused."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env, start_new_session=True
        )
        limit_memory(process)
        try:
            with _exit_waiter(process) as wait:
                while process.poll() is None:
                    if deadline.remaining() <= 0:
                        raise GitError(f"{what} timed out after {deadline.seconds:g} s", permanent=False)
                    if watch is not None:
                        watch()
                    wait(min(_POLL_SECONDS, max(deadline.remaining(), 0.001)))
        except BaseException:
            kill(process)
            raise
        return subprocess.CompletedProcess(argv, process.returncode, _bounded_read(stdout, what), _bounded_read(stderr, what))


@contextlib.contextmanager
def _exit_waiter(process: subprocess.Popen):
    """wait(seconds): return when the process exits or the time is up, whichever comes first. On a
    pidfd (Linux 5.3+) the exit wakes us at once; Popen.wait(timeout) polls with sleeps that grow
    to 50 ms, which made each short git call (rev-parse, ls-tree: a few ms) take up to 30 ms more."""
    try:
        fd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # an older kernel or Python: Popen's own polling
        yield lambda seconds: _wait_polling(process, seconds)
        return
    try:
        yield lambda seconds: select.select([fd], [], [], seconds)
    finally:
        os.close(fd)


def _wait_polling(process: subprocess.Popen, seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=seconds)


def _bounded_read(output, what: str) -> bytes:
    limit = settings.NYXSYNC_GIT_MAX_OUTPUT_BYTES
    if output.seek(0, os.SEEK_END) > limit:
        raise GitError(f"{what} printed more than {limit // 2**20} MB (NYXSYNC_GIT_MAX_OUTPUT_BYTES)", permanent=True)
    output.seek(0)
    return output.read()


def limit_memory(process: subprocess.Popen) -> None:
    """Cap the address space of a git process (NYXSYNC_GIT_MAX_MEMORY_BYTES): a hostile repository
    (a huge tree, a pack bomb) makes git fail, not the worker's machine swap. Set from outside
    (prlimit) right after it starts: a function run between fork and exec is unsafe in a threaded
    worker."""
    limit = settings.NYXSYNC_GIT_MAX_MEMORY_BYTES
    if limit:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            resource.prlimit(process.pid, resource.RLIMIT_AS, (limit, limit))


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stream_blobs(cache: Path, display: str, shas: list[str], timeout: float) -> Iterator[tuple[str, bytes]]:
    argv = git_argv(cache, "cat-file", "--batch")
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=git_env(), start_new_session=True
        )
        limit_memory(process)
        # A thread writes the requests: writing them all before reading would fill both pipes.
        writer = threading.Thread(target=_write_lines, args=(process.stdin, shas), daemon=True)
        writer.start()
        reader = _TimedReader(process.stdout.fileno(), timeout)
        try:
            for sha in shas:
                yield sha, _read_blob(reader, sha, display)
        finally:
            kill(process)
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
