"""Sync benchmark: a real codebase's successive releases replayed as commits, synced as a worker
would (in one process, model kept warm), against the embedded PostgreSQL + pgvector.

    .venv/bin/python bench/sync.py [--package rich] [--versions 13.7.0 13.7.1 ...] [--model all-MiniLM-L6-v2]

Prints: the full sync (time, chunks/s, time inside the model, share of time outside it), the raw
model rate on the same chunks in the same process, each release-to-release sync (time, chunks
embedded and reused), a no-op sync, the write's rows/s, and the process's peak memory. Uses a
scratch database (dropped at the end) and a local `git daemon`; never the data of `make run`.
Figures only: nothing passes or fails.
"""

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_VERSIONS = ["13.7.0", "13.7.1", "13.8.0", "13.8.1", "13.9.4", "14.0.0"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default="rich")
    parser.add_argument("--versions", nargs="+", default=DEFAULT_VERSIONS)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nyxsync-bench"))
    args = parser.parse_args()

    sources = [_release_tree(args.package, version, args.cache) for version in args.versions]
    work = Path(tempfile.mkdtemp(prefix="nyxsync-bench-sync-"))
    database = f"nyxsync_bench_{os.getpid()}"
    _setup_django(work, database, args.model)
    daemon = None
    try:
        daemon, url = _serve_repository(work)
        _run(args, sources, work, url)
    finally:
        if daemon:
            daemon.terminate()
        from django.db import connections

        connections.close_all()
        _drop_database(database)
        shutil.rmtree(work, ignore_errors=True)


def _run(args, sources: list[Path], work: Path, url: str) -> None:
    from django.contrib.auth import get_user_model

    from embeddings.backends import get_backend
    from syncs.services import project_sync_link

    backend = get_backend(args.model)
    started = time.monotonic()
    backend.embed(["warm up"])  # a worker loads its model once; syncs find it warm
    print(f"{args.package} {' -> '.join(args.versions)}; model {args.model} loaded in {time.monotonic() - started:.1f} s")
    model_clock = _time_calls(backend)
    user = get_user_model().objects.create_user("bench")

    tree = work / "tree"
    _git("init", "--quiet", "--initial-branch=main", str(tree))
    sync = None
    for index, (version, source) in enumerate(zip(args.versions, sources, strict=True)):
        _replace_tree(tree, source)
        _git("-C", str(tree), "add", "--all")
        _git("-C", str(tree), "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "--quiet", "-m", version)
        _git("-C", str(tree), "push", "--quiet", "--force", str(work / "served" / "repo.git"), "HEAD:refs/heads/main")
        sync = sync or project_sync_link(owner=user, repository=url, branch="main", name=args.package)
        run, wall, model_seconds = _sync(sync, model_clock)
        if index == 0:
            _print_full(run, wall, model_seconds, backend)
        else:
            new_chunks = run.chunks_embedded + run.chunks_reused
            reused = run.chunks_reused / new_chunks if new_chunks else 1.0
            print(
                f"  {args.versions[index - 1]} -> {version}: {wall:6.2f} s, {run.files_changed:3} files changed, "
                f"{run.chunks_embedded:4} chunks embedded, {run.chunks_reused:4} reused ({reused:.0%} of the changed "
                f"files' chunks), {wall - model_seconds:.2f} s outside the model"
            )
    run, wall, _ = _sync(sync, model_clock)
    print(f"no-op sync ({run.status}): {wall * 1000:.0f} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (the worker's part): {peak:.0f} MB")
    print(
        "reference (shared/README.md): CocoIndex 1.0.26 full index 1.02-1.07x the raw model time; "
        "release updates re-embedded 48-306 chunks in 2.5-16.8 s (+5 s torch import); no-op 0.12 s"
    )


def _sync(sync, model_clock):
    from syncs.models import SyncRun
    from syncs.pipeline import sync_run_execute
    from syncs.services import sync_run_enqueue

    model_clock.seconds = 0.0
    started = time.monotonic()
    run, _ = sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    run = sync_run_execute(run.pk)
    wall = time.monotonic() - started
    if run.status not in (SyncRun.Status.SUCCEEDED, SyncRun.Status.UP_TO_DATE):
        raise SystemExit(f"sync {run.status}: {run.error}")
    return run, wall, model_clock.seconds


def _print_full(run, wall: float, model_seconds: float, backend) -> None:
    from embeddings.models import Chunk

    chunks = run.chunks_embedded + run.chunks_reused
    from syncs.models import SyncRun

    order = [phase for phase in SyncRun.Phase.values if phase in run.phase_seconds]
    phases = ", ".join(f"{phase} {run.phase_seconds[phase]:.2f}" for phase in order)
    print(f"full sync: {run.files_seen} files, {chunks} chunks ({run.chunks_embedded} embedded) in {wall:.1f} s = {chunks / wall:.1f} chunks/s")
    print(f"  phases (s): {phases}")
    outside = wall - model_seconds
    print(f"  inside the model {model_seconds:.1f} s; outside {outside:.2f} s = {outside / wall:.1%} of the sync (goal < 10%)")
    write = run.phase_seconds.get("write", 0)
    print(f"  write: {chunks} chunk rows staged in {write:.3f} s = {chunks / write:,.0f} rows/s" if write else "  write: -")
    sample = list(Chunk.objects.order_by("?").values_list("text", flat=True)[:256])
    started = time.monotonic()
    for start in range(0, len(sample), backend.max_batch):
        backend.embed(sample[start : start + backend.max_batch])
    rate = len(sample) / (time.monotonic() - started)
    print(f"  raw model on {len(sample)} of the same chunks, batch {backend.max_batch}: {rate:.1f} chunks/s; the sync embedded at {run.chunks_embedded / wall:.1f}/s")


class _Clock:
    seconds = 0.0


def _time_calls(backend) -> _Clock:
    """Accumulate the time spent inside backend.embed (the model), to tell it from the rest."""
    clock, embed = _Clock(), backend.embed

    def timed(texts):
        started = time.monotonic()
        try:
            return embed(texts)
        finally:
            clock.seconds += time.monotonic() - started

    backend.embed = timed
    return clock


def _setup_django(work: Path, database: str, model: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "nyxsync.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["NYXSYNC_EMBEDDING_MODEL"] = model
    os.environ["NYXSYNC_GIT_CACHE_DIR"] = str(work / "git-cache")
    os.environ["NYXSYNC_INSECURE_GIT_HOSTS"] = "127.0.0.1"
    from nyxsync import embedded

    base = os.environ.get("DATABASE_URL")
    if base:
        raise SystemExit("bench/sync.py uses the embedded server; unset DATABASE_URL")
    import psycopg

    with psycopg.connect(host=str(embedded.ensure_postgres()), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    os.environ["DATABASE_URL"] = embedded.postgres_url(database)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _drop_database(database: str) -> None:
    import psycopg

    from nyxsync import embedded

    with psycopg.connect(host=str(embedded.ensure_postgres()), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _serve_repository(work: Path):
    served = work / "served"
    served.mkdir()
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(served / "repo.git"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", f"--base-path={served}", "--export-all", "--listen=127.0.0.1", f"--port={port}", str(served)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return daemon, f"git://127.0.0.1:{port}/repo.git"


def _release_tree(package: str, version: str, cache: Path) -> Path:
    """The unpacked sdist of package==version (downloaded once with pip)."""
    cache.mkdir(parents=True, exist_ok=True)
    unpacked = cache / f"{package}-{version}"
    if unpacked.is_dir():
        return unpacked
    archive = next(cache.glob(f"{package}-{version}.tar.gz"), None)
    if archive is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", f"{package}=={version}", "-d", str(cache)],
            check=True,
        )
        archive = next(cache.glob(f"{package}-{version}.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return unpacked


def _replace_tree(tree: Path, source: Path) -> None:
    for child in tree.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    shutil.copytree(source, tree, dirs_exist_ok=True, symlinks=True)


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True)


if __name__ == "__main__":
    main()
