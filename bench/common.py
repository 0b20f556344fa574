"""Helpers shared by the benchmarks: a scratch database on the embedded server, Django set up
against it, a local `git daemon`, and sdists of real packages as source trees."""

import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(work: Path, database: str, *, model: str, reuse: bool = False) -> str:
    """Create `database` on the embedded server (or reuse it), point Django at it, migrate;
    returns its URL."""
    if os.environ.get("DATABASE_URL"):
        raise SystemExit("the benchmarks use the embedded server; unset DATABASE_URL")
    os.environ["DJANGO_SETTINGS_MODULE"] = "nyxsync.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["NYXSYNC_EMBEDDING_MODEL"] = model
    os.environ["NYXSYNC_GIT_CACHE_DIR"] = str(work / "git-cache")
    os.environ["NYXSYNC_INSECURE_GIT_HOSTS"] = "127.0.0.1"
    import psycopg

    from nyxsync import embedded

    with psycopg.connect(host=str(embedded.ensure_postgres()), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not (reuse and exists):
            # Owned by the owner role, which migrates; the app's role runs under row-level security.
            conn.execute(f'CREATE DATABASE "{database}" OWNER {embedded.OWNER_ROLE}')
    os.environ["DATABASE_URL"] = embedded.postgres_url(database)
    os.environ["MIGRATION_DATABASE_URL"] = embedded.postgres_url(database, user=embedded.OWNER_ROLE)
    import django

    django.setup()
    from django.core.management import call_command

    from nyxsync.tenancy import act_as_system_by_default

    call_command("migrate", verbosity=0)
    act_as_system_by_default()  # as manage.py does: an operator's process on the box
    return os.environ["DATABASE_URL"]


def register_models(names: set[str]) -> None:
    """Register each model with its HNSW index, as the owner role: what a deployment's `migrate`
    leaves, so that syncs pay for the index as they would there."""
    from django.db import connections

    from embeddings.backends import get_backend
    from embeddings.vectors import embedding_model_register, vector_index_ensure
    from nyxsync.db import as_migration_role

    with as_migration_role(connections["default"]):
        for name in sorted(names):
            backend = get_backend(name)
            vector_index_ensure(embedding_model_register(name=backend.name, backend=backend.backend, dimensions=backend.dimensions))


def drop_database(database: str) -> None:
    import psycopg
    from django.db import connections

    from nyxsync import embedded

    connections.close_all()
    with psycopg.connect(host=str(embedded.ensure_postgres()), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def serve_repository(work: Path) -> tuple[subprocess.Popen, str, Path]:
    """A bare repository served by `git daemon` on 127.0.0.1: (process, URL, bare path)."""
    served = work / "served"
    served.mkdir()
    bare = served / "repo.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
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
    return daemon, f"git://127.0.0.1:{port}/repo.git", bare


def commit_tree(tree: Path, source: Path, bare: Path, message: str) -> None:
    """Make `tree` (a work tree) hold exactly `source`, commit and push it to `bare`."""
    if not (tree / ".git").exists():
        git("init", "--quiet", "--initial-branch=main", str(tree))
    for child in tree.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    shutil.copytree(source, tree, dirs_exist_ok=True, symlinks=True)
    git("-C", str(tree), "add", "--all")
    git("-C", str(tree), "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "--quiet", "--allow-empty", "-m", message)
    git("-C", str(tree), "push", "--quiet", "--force", str(bare), "HEAD:refs/heads/main")


def release_tree(package: str, version: str, cache: Path) -> Path:
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


def git(*args: str) -> None:
    subprocess.run(["git", *args], check=True)


def cpu_name() -> str:
    """The CPU's model name as lscpu gives it, and whether it has AVX-512 (figures depend on both)."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU"
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    name = fields.get("Model name", "unknown CPU").strip()
    flags = fields.get("Flags", "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    vnni = ", VNNI" if {"avx512_vnni", "avx_vnni"} & set(flags) else ""
    return f"{name} ({isa}{vnni})"


class ModelClock:
    """Seconds spent inside a backend's embed calls (the model), to tell them from the rest of a
    sync: wraps `backend.embed` until `restore()`."""

    def __init__(self, backend):
        self.seconds = 0.0
        self._backend, self._embed = backend, backend.embed
        backend.embed = self._timed

    def _timed(self, texts):
        started = time.perf_counter()
        try:
            return self._embed(texts)
        finally:
            self.seconds += time.perf_counter() - started

    def restore(self) -> None:
        self._backend.embed = self._embed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def sync_branch(model: str, url: str, name: str, *, username: str) -> tuple:
    """A project of `url`'s main branch with `model` (as a new branch gets its model), synced in
    this process, then `migrate` as an operator would: it builds a new model's HNSW index as the
    owner role (the app's role may not), so every model is searched the same way. Returns the
    branch and the seconds the sync and the index took."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import override_settings

    from syncs.models import SyncRun
    from syncs.pipeline import sync_run_execute
    from syncs.services import project_link, sync_run_enqueue

    user, _ = get_user_model().objects.get_or_create(username=username)
    with override_settings(NYXSYNC_EMBEDDING_MODEL=model):
        sync = project_link(owner=user, repository=url, branch="main", name=name)
    started = time.monotonic()
    run, _ = sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    run = sync_run_execute(run.pk)
    if run.status != SyncRun.Status.SUCCEEDED:
        raise SystemExit(f"sync {run.status}: {run.error}")
    call_command("migrate", verbosity=0)
    sync.refresh_from_db()
    return sync, time.monotonic() - started
