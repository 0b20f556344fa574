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
import fcntl
import hashlib
import itertools
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from repositories.git_process import (
    Deadline,
    GitError,
    Remote,
    git_argv,
    git_env,
    remote_for,
    run_git,
    stream_blobs,
    timeout_seconds,
)
from repositories.input import InvalidInput, Repository, normalize_repository, validate_branch

logger = logging.getLogger(__name__)

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_MB = 1024 * 1024
# git's gc.autoPackLimit: past this many packs `gc --auto` repacks. Fetches bring packs only
# (fetch.unpackLimit=1, repositories.git_process), never loose objects, its other trigger.
_GC_AUTO_PACK_LIMIT = 50
# What git says (LC_ALL=C) when retrying cannot help, and when it may.
_NOT_FOUND = ("repository not found", "not exported", "does not appear to be a git repository", "authentication failed",
              "could not read username", "returned error: 401", "returned error: 403", "returned error: 404")  # fmt: skip
_UNREACHABLE = ("unable to connect", "could not resolve host", "connection refused", "failed to connect",
                "timed out", "connection reset", "unable to access", "the remote end hung up")  # fmt: skip


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
    """Branch names sorted, the default branch first (git's and GitHub's listings alike);
    `default` is None when the remote does not say or has no such branch."""

    def __init__(self, names: Iterable[str], default: str | None):
        names = sorted(names)
        if default in names:
            names.remove(default)
            names.insert(0, default)
        super().__init__(names)
        self.default = default if default in names else None


# --- public API ---------------------------------------------------------------------------------


def cache_path(url: str) -> Path:
    """The bare cache of a repository (it may not exist yet)."""
    return _cache_of(_repository(url))


def fetch_branch(
    url: str, branch: str, *, token: str | None = None, timeout: float | None = None, commit: str | None = None
) -> str:
    """Fetch the tip of `branch` into the cache and return its commit SHA.

    `commit` is the tip an ls-remote has just seen (remote_head): it is fetched by its id, which
    spares the fetch its own listing of the remote's refs, one of its two round trips, and the run
    syncs the branch as the ls-remote saw it. A server that refuses an id it has not advertised (or
    no longer has, after a force-push and a gc) is asked for the branch by name instead."""
    branch = _branch(branch)
    if commit is not None and not _SHA.fullmatch(commit):
        raise InvalidInput(f"not a commit id: {commit[:80]!r}")
    remote = remote_for(_repository(url), token)
    deadline = Deadline.after(timeout)
    cache = _cache_of(remote.repository)
    log = {"repository": remote.repository.display, "branch": branch}
    started = time.monotonic()
    logger.info("git.fetch.started", extra=log)
    try:
        with _cache_lock(cache, deadline):
            _prepare_cache(cache, deadline)
            sha = _fetch(remote, branch, cache, deadline=deadline, commit=commit)
            _collect_garbage(cache, deadline)
    except GitError as error:
        logger.warning("git.fetch.failed", extra={**log, "error": error.message, "permanent": error.permanent})
        raise
    logger.info("git.fetch.finished", extra={**log, "commit": sha, "seconds": round(time.monotonic() - started, 3)})
    return sha


def remote_head(url: str, branch: str, *, token: str | None = None, timeout: float | None = None) -> str | None:
    """The commit `branch` points to on the remote, or None if there is no such branch."""
    branch = _branch(branch)
    refs, _ = _ls_remote(remote_for(_repository(url), token), [f"refs/heads/{branch}"], deadline=Deadline.after(timeout))
    return refs.get(f"refs/heads/{branch}")


def list_branches(url: str, *, token: str | None = None, timeout: float | None = None) -> BranchList:
    """The remote's branches, its default branch first and the rest sorted."""
    refs, default = _ls_remote(remote_for(_repository(url), token), ["HEAD", "refs/heads/*"], deadline=Deadline.after(timeout))
    return BranchList((ref.removeprefix("refs/heads/") for ref in refs if ref.startswith("refs/heads/")), default)


def ls_tree(source: str | Path, commit: str, *, timeout: float | None = None) -> list[TreeEntry]:
    """Every file of `commit` (recursively): blobs, symlinks and submodules with their sizes."""
    cache, display = _existing_cache(source)
    commit = _sha(commit)
    argv = git_argv(cache, "ls-tree", "-r", "-l", "-z", "--full-tree", "--end-of-options", commit)
    result = run_git(argv, env=git_env(), deadline=Deadline.after(timeout), what="ls-tree")
    if result.returncode != 0:
        raise GitError(f"commit {commit} is not in the cache of {display}", permanent=False)
    records = result.stdout.split(b"\0")
    limit = settings.NYXSYNC_MAX_FILES
    if len(records) - 1 > limit:
        raise GitError(
            f"the branch has {len(records) - 1:,} files, more than nyxsync syncs ({limit:,}, NYXSYNC_MAX_FILES)", permanent=True
        )
    return [_tree_entry(record) for record in records if record]


def read_blobs(source: str | Path, shas: Iterable[str], *, timeout: float | None = None) -> Iterator[tuple[str, bytes]]:
    """(sha, content) for each blob, in order, streamed from one `git cat-file --batch` process.

    Bad input is refused at the call; `timeout` bounds each answer of git, not the time the caller
    spends between two items.
    """
    cache, display = _existing_cache(source)
    wanted = [_sha(sha) for sha in shas]
    return stream_blobs(cache, display, wanted, timeout_seconds(timeout))


# --- validation ---------------------------------------------------------------------------------


def _repository(url: str) -> Repository:
    try:
        # No DNS here: only network calls resolve, and they pin what they checked (remote_config).
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


def _existing_cache(source: str | Path) -> tuple[Path, str]:
    if isinstance(source, Path):
        cache, display = source, str(source)
    else:
        repository = _repository(source)
        cache, display = _cache_of(repository), repository.display
    if not (cache / "HEAD").is_file():
        raise GitError(f"{display} has not been fetched yet", permanent=False)
    return cache, display


# --- fetching -----------------------------------------------------------------------------------


@contextmanager
def _cache_lock(cache: Path, deadline: Deadline):
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


def _prepare_cache(cache: Path, deadline: Deadline) -> None:
    """Create the bare cache, or clean up after a fetch that was killed (we hold the lock: no git runs)."""
    if (cache / "HEAD").is_file():
        _remove_leftovers(cache)
        return
    shutil.rmtree(cache, ignore_errors=True)
    building = cache.with_name(cache.name + ".init")
    shutil.rmtree(building, ignore_errors=True)
    # No template: nothing (sample hooks, info/exclude) is copied from the system.
    argv = git_argv(None, "init", "--quiet", "--bare", "--template=", "--", str(building))
    result = run_git(argv, env=git_env(), deadline=deadline, what="init")
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


def _fetch(remote: Remote, branch: str, cache: Path, *, deadline: Deadline, commit: str | None = None) -> str:
    ref = f"refs/nyxsync/heads/{branch}"
    before = _Snapshot.take(cache, ref)
    limit = settings.NYXSYNC_GIT_MAX_REPO_BYTES

    def argv(source: str) -> list[str]:
        return git_argv(
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
            f"+{source}:{ref}",
            config=remote.config,
        )

    def watch() -> None:
        if _tree_bytes(cache) > limit:
            raise GitError(f"repository is larger than the limit of {_megabytes(limit)} MB", permanent=True)

    try:
        result = None
        if commit:
            result = run_git(argv(commit), env=remote.env, deadline=deadline, what="fetch", watch=watch)
            if result.returncode != 0:
                logger.info("git.fetch.by_id_refused", extra={"repository": remote.repository.display, "commit": commit})
        if result is None or result.returncode != 0:
            result = run_git(argv(f"refs/heads/{branch}"), env=remote.env, deadline=deadline, what="fetch", watch=watch)
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
            commit=_loose_ref(cache, ref) or _read_ref(cache, ref),
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
        run_git(git_argv(cache, "update-ref", *update), env=git_env(), deadline=Deadline.after(30), what="update-ref")


def _loose_ref(cache: Path, ref: str) -> str | None:
    """The object id a loose ref file holds (what a fetch writes), read without a git process; None
    when the ref is packed (after gc), missing or not a plain id: ask git then. Only to put the
    ref back after an aborted fetch: what a run syncs is resolved by git (_resolve)."""
    try:
        text = (cache / ref).read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if _SHA.fullmatch(text) else None


def _read_ref(cache: Path, ref: str) -> str | None:
    argv = git_argv(cache, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    result = run_git(argv, env=git_env(), deadline=Deadline.after(30), what="rev-parse")
    return result.stdout.decode().strip() if result.returncode == 0 else None


def _resolve(cache: Path, ref: str) -> str:
    sha = _read_ref(cache, ref)
    if sha is None:
        raise GitError("the fetched branch does not point to a commit", permanent=True)
    return sha


def _collect_garbage(cache: Path, deadline: Deadline) -> None:
    """Every fetch adds a pack; gc --auto repacks once there are many and drops what no branch needs.

    The fetch has succeeded by now, so a failed or killed gc is only logged (the next fetch cleans up)."""
    if len(list((cache / "objects" / "pack").glob("*.pack"))) <= _GC_AUTO_PACK_LIMIT:
        return  # gc --auto would find nothing to do: no git process for it (most fetches)
    try:
        result = run_git(git_argv(cache, "gc", "--auto", "--quiet"), env=git_env(), deadline=deadline, what="gc")
    except GitError as error:
        logger.warning("git.gc.failed", extra={"cache": cache.name, "error": error.message})
        return
    if result.returncode != 0:
        logger.warning("git.gc.failed", extra={"cache": cache.name, "returncode": result.returncode})


def _fetch_error(remote: Remote, branch: str, stderr: bytes, *, deadline: Deadline) -> GitError:
    display = remote.repository.display
    if b"couldn't find remote ref" in stderr:
        refs, _ = _ls_remote(remote, [], deadline=deadline)
        if not refs:
            return GitError(f"repository {display} is empty (it has no commits)", permanent=True)
        return GitError(f"branch '{branch}' not found in {display}", permanent=True)
    return _transport_error(remote, stderr, what="fetch")


def _transport_error(remote: Remote, stderr: bytes, *, what: str) -> GitError:
    message = stderr.decode("utf-8", "replace")
    lowered = message.lower()
    display = remote.repository.display
    if any(marker in lowered for marker in _NOT_FOUND):
        full_name = remote.repository.github_full_name
        if full_name and remote.token:
            return GitError(
                f"GitHub refused {full_name} to the token this project fetches with (access revoked?): "
                "its owner connects GitHub again with an account that can read it, or sets a project token",
                permanent=True,
            )
        if full_name:
            return GitError(
                f"GitHub has no public repository {full_name}: a private one needs its owner's GitHub connection or a project token",
                permanent=True,
            )
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


def _ls_remote(remote: Remote, patterns: list[str], *, deadline: Deadline) -> tuple[dict[str, str], str | None]:
    """(ref -> sha, default branch) from `git ls-remote --symref`."""
    argv = git_argv(None, "ls-remote", "--symref", "--", remote.repository.url, *patterns, config=remote.config)
    result = run_git(argv, env=remote.env, deadline=deadline, what="ls-remote")
    if result.returncode != 0:
        raise _transport_error(remote, result.stderr, what="ls-remote")
    refs, default = {}, None
    lines = result.stdout.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) > settings.NYXSYNC_GIT_MAX_REFS:
        raise GitError(
            f"{remote.repository.display} has more than {settings.NYXSYNC_GIT_MAX_REFS:,} branches (NYXSYNC_GIT_MAX_REFS)", permanent=True
        )
    for line in lines:
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
