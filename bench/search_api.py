"""Search through the REST API as users see it, under row-level security, beside another tenant.

    .venv/bin/python bench/search_api.py [--big-chunks 98000] [--small-chunks 2200] [--queries 40]
                                         [--small-model hashing-256] [--keep] [--index-on-write]
                                         [--baseline ../main-clone] [--rounds 1]

Two tenants in one scratch database, each syncing a repository of real code (.py files of this
virtualenv, disjoint, as many files as make the chunks asked for) through the pipeline, served by
`git daemon`: tenant B's big repository (98,000 chunks by default) and tenant A's small one (2,200),
both with the hashing-256 model unless --small-model names another for A's (all-MiniLM-L6-v2: the
real model, on the small corpus only; B's stays hashing). The models are registered with their
HNSW indexes first, as a deployment's `migrate` leaves them. The syncs write their vectors pending
(outside the index, embeddings.vectors); --index-on-write makes every vector enter the index as it
is written instead (a trigger), as before pending vectors existed, to compare the syncs' cost.

Then a web server as `make run` starts it (uvicorn, the app's role under row-level security, the
default model loaded at start), and each user searches with their own API token, timed by the
client: the first query after the server answers, then warm p50/p95 for A (small project, B's
chunks beside it) and for B (its own big project), and whether any hit came from the other
tenant: first with the syncs' vectors and the chunks' text vectors still pending (searched
exactly, words matched from the text), then again after what the worker's task does after a swap:
the text-search pass has written the text vectors (timed) and the indexer has moved the vectors
into the HNSW index (timed: vectors/s), and a VACUUM of the vectors (timed) has removed the row
versions that left behind. Also each sync's throughput:
chunks/s outside the model (the whole sync minus the time inside the model's embed calls).

--baseline DIR serves the same database from the code of another checkout too (a clone of main
before a change, run with this checkout's virtualenv), on a port of its own: each query is then
sent to both servers in turn (which one first alternates), --rounds times, so the two are timed
side by side at the same load, with their medians' ratio.

Figures only: nothing passes or fails. The database is dropped at the end unless --keep, which
keeps it (nyxsync_bench_search) and reuses its synced projects next time.
"""

import argparse
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ROOT,
    ModelClock,
    commit_tree,
    cpu_name,
    drop_database,
    percentile,
    register_models,
    serve_repository,
    setup_django,
)

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-chunks", type=int, default=98_000)
    parser.add_argument("--small-chunks", type=int, default=2_200)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--small-model", default="hashing-256")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--baseline", type=Path, help="Another checkout whose code serves the same database beside this one's, interleaved.")
    parser.add_argument("--rounds", type=int, default=1, help="Times each query is sent (to each server).")
    parser.add_argument(
        "--index-on-write", action="store_true", help="Every vector enters the HNSW index as it is written (as before pending vectors)."
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nyxsync-bench-search-"))
    database = "nyxsync_bench_search" if args.keep else f"nyxsync_bench_search_{os.getpid()}"
    url = setup_django(work, database, model="hashing-256", reuse=args.keep)
    print(f"CPU: {cpu_name()}; load average at start: {os.getloadavg()[0]:.1f}")
    daemon = None
    try:
        daemon, repo_url, bare = serve_repository(work)
        small, big = python_files([args.small_chunks, args.big_chunks])
        register_models({"hashing-256", args.small_model})
        if args.index_on_write:
            index_on_write()
        tenants = {}
        for name, chosen, model in (("b", big, "hashing-256"), ("a", small, args.small_model)):
            tenants[name] = load_tenant(name, chosen, model, work, repo_url, bare)
        measure(tenants, url, args.queries, args.small_model, work, baseline=args.baseline, rounds=args.rounds)
    finally:
        if daemon is not None:
            daemon.terminate()
        if not args.keep:
            drop_database(database)
        shutil.rmtree(work, ignore_errors=True)


def index_on_write() -> None:
    """A trigger that marks each vector indexed as it is inserted: it enters the HNSW index with
    the write, in the sync, as every vector did before they were written pending."""
    from django.db import connections

    from nyxsync.db import as_migration_role

    connection = connections["default"]
    with as_migration_role(connection), connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION bench_index_on_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.indexed := true; RETURN NEW; END $$"
        )
        cursor.execute("DROP TRIGGER IF EXISTS bench_index_on_write ON embeddings_vector")
        cursor.execute("CREATE TRIGGER bench_index_on_write BEFORE INSERT ON embeddings_vector FOR EACH ROW EXECUTE FUNCTION bench_index_on_write()")
    print("vectors enter the HNSW index as they are written (--index-on-write)")


def python_files(chunk_targets: list[int]) -> list[list[Path]]:
    """Disjoint lists of .py files of this virtualenv (deterministic order, skipping tiny and huge
    ones), each making about as many chunks as its target."""
    from django.conf import settings

    from embeddings.chunking import chunk_text

    lists, chosen, chunks = [], [], 0
    targets = iter(chunk_targets)
    target = next(targets)
    for path in sorted(SITE.rglob("*.py")):
        if not (path.is_file() and 200 <= path.stat().st_size <= 200_000):
            continue
        chosen.append(path)
        chunks += len(chunk_text(str(path), path.read_text(errors="replace"), max_chars=settings.NYXSYNC_CHUNK_MAX_CHARS))
        if chunks >= target:
            lists.append(chosen)
            target = next(targets, None)
            if target is None:
                return lists
            chosen, chunks = [], 0
    raise SystemExit(f"not enough .py files in {SITE} for {chunk_targets} chunks; ask for fewer")


def load_tenant(name: str, files: list[Path], model: str, work: Path, repo_url: str, bare: Path) -> dict:
    """User `name`'s project, synced from a repository of `files` (reused if --keep loaded it)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from syncs.models import ProjectSync

    user, _ = get_user_model().objects.get_or_create(username=f"tenant-{name}")
    sync = ProjectSync.objects.filter(project__owner=user, live_generation__gt=0).first()
    if sync is None:
        source = work / f"source-{name}"
        for path in files:
            target = source / path.relative_to(SITE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        commit_tree(work / f"tree-{name}", source, bare, f"tenant {name}")
        settings.NYXSYNC_EMBEDDING_MODEL = model
        # A name of its own: a project a stopped run left unsynced stays linked to another port.
        sync, run, seconds, model_seconds = timed_sync(user, repo_url, f"code-{name}-{os.getpid()}")
        outside = seconds - model_seconds
        print(
            f"tenant {name.upper()}: {run.files_seen} files, {sync.live_chunk_count} chunks, model {model}: sync {seconds:.1f} s "
            f"({model_seconds:.1f} s in the model): {sync.live_chunk_count / outside:,.0f} chunks/s outside the model; "
            f"phases {dict((k, round(v, 1)) for k, v in run.phase_seconds.items())}"
        )
    else:
        print(f"tenant {name.upper()}: reusing {sync.live_chunk_count} chunks ({sync.embedding_model})")
    return {"user": user, "sync": sync}


def timed_sync(user, repo_url: str, name: str):
    """Link and sync as a worker would, in this process; returns (sync, run, seconds, seconds
    inside the model's embed calls)."""
    from django.conf import settings

    from embeddings.backends import get_backend
    from syncs.models import SyncRun
    from syncs.pipeline import sync_run_execute
    from syncs.services import project_link, sync_run_enqueue

    model_clock = ModelClock(get_backend(settings.NYXSYNC_EMBEDDING_MODEL))
    try:
        sync = project_link(owner=user, repository=repo_url, branch="main", name=name)
        run, _ = sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
        started = time.perf_counter()
        run = sync_run_execute(run.pk)
        seconds = time.perf_counter() - started
    finally:
        model_clock.restore()
    if run.status != SyncRun.Status.SUCCEEDED:
        raise SystemExit(f"the sync of {name} ended {run.status}: {run.error}")
    sync.refresh_from_db()
    return sync, run, seconds, model_clock.seconds


def measure(tenants: dict, database_url: str, count: int, small_model: str, work: Path, *, baseline: Path | None, rounds: int) -> None:
    from embeddings.text_search import chunks_text_search_fill, chunks_text_search_pending_count
    from embeddings.vectors import vectors_index_pending, vectors_pending_count
    from nyxsync.api_tokens import api_token_issue

    tokens = {name: api_token_issue(user=tenant["user"]).key for name, tenant in tenants.items()}
    queries = {name: queries_for(tenant["sync"], count) for name, tenant in tenants.items()}
    checkouts = {"this": ROOT} if baseline is None else {"baseline": baseline.resolve(), "this": ROOT}
    servers = {}
    try:
        import httpx

        clients = {}
        for label, checkout in checkouts.items():
            port = free_port()
            server, log, started = start_web(port, database_url, small_model, work, checkout)
            servers[label] = server
            clients[label] = client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
            before = time.perf_counter()
            hits = search(client, tokens["a"], tenants["a"]["sync"], queries["a"][0])
            first = time.perf_counter() - before
            print(
                f"{label} ({checkout}): web server up in {started:.1f} s (model loaded at start); first search after it answered: "
                f"{first * 1000:.0f} ms ({len(hits)} hits)"
            )
        pending, texts = vectors_pending_count(), chunks_text_search_pending_count()
        if pending or texts:
            print(
                f"with the syncs' {pending:,} vectors pending (not in the HNSW index yet, searched exactly) and "
                f"{texts:,} chunks' text vectors (words matched from their text):"
            )
            latency_rows(clients, tenants, tokens, queries, rounds)
            # As the worker's embeddings.index_vectors task after a swap: the text vectors, then the index.
            before = time.perf_counter()
            written, _ = chunks_text_search_fill()
            seconds = time.perf_counter() - before
            print(f"text-search pass: {written:,} chunks' text vectors written in {seconds:.1f} s; load average {os.getloadavg()[0]:.1f}")
            before = time.perf_counter()
            moved = vectors_index_pending().moved
            seconds = time.perf_counter() - before
            print(f"indexer: {moved:,} vectors moved into the HNSW index in {seconds:.1f} s ({moved / seconds:,.0f} vectors/s); load average {os.getloadavg()[0]:.1f}")
            vacuum()
        print("with every vector in the HNSW index:")
        latency_rows(clients, tenants, tokens, queries, rounds)
    finally:
        for server in servers.values():
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}; bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def vacuum() -> None:
    """VACUUM the vectors as autovacuum soon would: the indexer's updates left a dead row version
    of each vector moved (and vacuum scans each HNSW index for them)."""
    from django.db import connections

    from nyxsync.db import as_migration_role

    connection = connections["default"]
    before = time.perf_counter()
    with as_migration_role(connection), connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) embeddings_vector")
    print(f"VACUUM (ANALYZE) embeddings_vector after the indexer: {time.perf_counter() - before:.1f} s; load average {os.getloadavg()[0]:.1f}")


def latency_rows(clients: dict, tenants: dict, tokens: dict, queries: dict, rounds: int) -> None:
    """Each tenant's queries through each server, in turn (which server goes first alternates)."""
    for name in ("a", "b"):
        tenant, other = tenants[name], tenants["b" if name == "a" else "a"]
        for client in clients.values():
            for query in queries[name][:3]:  # warm
                search(client, tokens[name], tenant["sync"], query)
        latencies = {label: [] for label in clients}
        foreign, empty, turn = dict.fromkeys(clients, 0), dict.fromkeys(clients, 0), 0
        for _ in range(rounds):
            for query in queries[name]:
                order = list(clients) if turn % 2 == 0 else list(reversed(clients))
                turn += 1
                for label in order:
                    before = time.perf_counter()
                    hits = search(clients[label], tokens[name], tenant["sync"], query)
                    latencies[label].append((time.perf_counter() - before) * 1000)
                    foreign[label] += sum(hit["sync"] == str(other["sync"].uuid) for hit in hits)
                    empty[label] += not hits
        print(
            f"  tenant {name.upper()} ({tenant['sync'].live_chunk_count:,} chunks, {tenant['sync'].embedding_model}; "
            f"{other['sync'].live_chunk_count:,} of the other tenant's beside them), load average {os.getloadavg()[0]:.1f}:"
        )
        for label, values in latencies.items():
            ratio = ""
            if label != "baseline" and "baseline" in latencies:
                ratio = f" ({percentile(values, 0.5) / percentile(latencies['baseline'], 0.5):.2f}x the baseline's p50)"
            print(
                f"    {label}: {len(values)} searches through the API, p50 {percentile(values, 0.5):.0f} ms, "
                f"p95 {percentile(values, 0.95):.0f} ms, max {max(values):.0f} ms{ratio}; "
                f"hits from the other tenant: {foreign[label]}; searches without hits: {empty[label]}"
            )


def queries_for(sync, count: int) -> list[str]:
    """Queries as people type them: half a few words from a chunk's first line, half a name a
    chunk defines (its identifier), from the project's own chunks."""
    from embeddings.models import Chunk

    rng = random.Random(11)
    texts = list(Chunk.objects.filter(file__project_sync=sync).order_by("id").values_list("text", flat=True)[:20_000])
    rng.shuffle(texts)
    queries = []
    for text in texts:
        if len(queries) % 2 == 0:
            words = re.findall(r"[A-Za-z]{3,}", text)[:5]
            if len(words) >= 3:
                queries.append(" ".join(words))
        else:
            name = re.search(r"\bdef ([A-Za-z_][A-Za-z0-9_]{3,})", text)
            if name:
                queries.append(name.group(1))
        if len(queries) == count:
            break
    return queries


def search(client, token: str, sync, query: str) -> list[dict]:
    response = client.post(
        "/api/v1/search/", json={"query": query, "k": 10, "project": str(sync.project.uuid)}, headers={"Authorization": f"Token {token}"}
    )
    response.raise_for_status()
    return response.json()["results"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_web(port: int, database_url: str, model: str, work: Path, checkout: Path = ROOT):
    """uvicorn as `make run` starts it, with `checkout`'s code, against the scratch database as the
    app's role (and this checkout's Redis and keys: the secrets stored are encrypted with them)."""
    from django.conf import settings

    from nyxsync import embedded

    # The server is told where Redis is, so it starts none: with --keep no sync ran here to start it.
    embedded.ensure_configured("redis")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY_FILE": str(embedded.home() / "secret_key"),
        "NYXSYNC_ENCRYPTION_KEYS_FILE": str(embedded.home() / "encryption_key"),
        "NYXSYNC_EMBEDDING_MODEL": model,
        "NYXSYNC_WARM_MODEL_ON_START": "true",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_THROTTLE_SEARCH": "100000/minute",
        "LOG_LEVEL": "WARNING",
    }
    log = work / f"web-{port}.log"
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "nyxsync.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--lifespan", "on", "--timeout-graceful-shutdown", "2"],
        cwd=checkout, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, log, time.perf_counter() - started
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the web server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.05)


if __name__ == "__main__":
    main()
