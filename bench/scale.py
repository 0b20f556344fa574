"""Scale benchmark: a full sync with one and with two Celery workers (fan-out), search latency
and recall on a 100,000-chunk branch, and sync throughput by repository size.

    .venv/bin/python bench/scale.py [--part workers|search|sync|writes|all] [--chunks 100000] [--sizes 200 2000 20000 60000]

Workers: rich 14.0.0 (about 1,700 chunks), all-MiniLM-L6-v2, real `celery worker` processes
against a scratch database: one worker with two torch threads, then two workers with one each.
Search: 100,000 chunks of real code (the .py files of this virtualenv) in one branch, embedded
with hashing-256 (a real model, fast enough to embed 100k chunks here; MiniLM would need about an
hour), the model's HNSW index built after loading; p50/p95 of the whole `search()` call (query
embedding, vector, full-text and definition rankings, fusion) and recall@10 of the index scan
against an exact scan, for 200 queries (search as users see it, through the API and beside
another tenant: bench/search_api.py).
Sync: repositories of 200, 2,000, 20,000 and 60,000 generated Python modules (the same kind of
file at every size; real code at 100,000 chunks: bench/search_api.py), each synced in a fresh
process as a worker runs it, with hashing-256, by a tenant of its own in one database (which
grows from one size to the next): the whole sync, the time inside the model's embed calls,
chunks/s and microseconds per file outside the model, the phases, and the process's peak memory
(or the one line a run stopped by a limit ends with).
Writes: chunk rows staged per second (20,000 chunks of real code, one batch of files at a time, as
a sync stages them) with each way of writing the chunk's text-search vector, interleaved, median
of three rounds: as the pipeline does, none at all, without regexp_replace, from Python as a
tsvector literal, and the same without the GIN index; how many chunks' vectors differ from the
pipeline's.
Figures only: nothing passes or fails.
"""

import argparse
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import (
    ROOT,
    ModelClock,
    commit_tree,
    cpu_name,
    drop_database,
    percentile,
    register_models,
    release_tree,
    serve_repository,
    setup_django,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["workers", "search", "sync", "writes", "all"], default="all")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2_000, 20_000, 60_000], help="Repository sizes (files) for --part sync.")
    parser.add_argument(
        "--without-hnsw", action="store_true", help="--part sync: no HNSW index on the model's vectors (what it costs a sync)."
    )
    parser.add_argument("--sync-child", nargs=3, metavar=("DATABASE_URL", "REPOSITORY", "USER"), help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nyxsync-bench"))
    parser.add_argument("--keep", action="store_true", help="Keep the search database (nyxsync_bench_keep) and reuse it next time.")
    args = parser.parse_args()
    if args.sync_child:
        return sync_child(*args.sync_child)
    work = Path(tempfile.mkdtemp(prefix="nyxsync-bench-scale-"))
    os.environ["CELERY_QUEUE"] = f"bench-{os.getpid()}"  # never the queue of a running `make run`
    database = "nyxsync_bench_keep" if args.keep else f"nyxsync_bench_scale_{os.getpid()}"
    url = setup_django(work, database, model="all-MiniLM-L6-v2", reuse=args.keep)
    try:
        if args.part in ("workers", "all"):
            workers_part(work, url, args.cache)
        if args.part in ("search", "all"):
            search_part(args.chunks, args.queries)
        if args.part in ("sync", "all"):
            sync_part(work, url, args.sizes, hnsw=not args.without_hnsw)
        if args.part in ("writes", "all"):
            writes_part(min(args.chunks, 20_000))
    finally:
        if not args.keep:
            drop_database(database)
        shutil.rmtree(work, ignore_errors=True)


# --- one worker against two ---------------------------------------------------------------------


def workers_part(work: Path, database_url: str, cache: Path) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    daemon, repo_url, bare = serve_repository(work)
    try:
        commit_tree(work / "tree", release_tree("rich", "14.0.0", cache), bare, "rich 14.0.0")
        user = get_user_model().objects.create_user("bench-workers")
        timings = {}
        for workers, threads in ((1, 2), (2, 1)):
            with connection.cursor() as cursor:  # every run embeds everything again
                cursor.execute("TRUNCATE embeddings_vector")
            procs = _start_workers(workers, threads, database_url, work)
            try:
                seconds, run = _timed_sync(user, repo_url, f"bench-{workers}w")
            finally:
                _stop(procs)
            timings[workers] = seconds
            print(
                f"{workers} worker(s) x {threads} torch thread(s): full sync {seconds:.1f} s, "
                f"{run.chunks_embedded} chunks embedded = {run.chunks_embedded / seconds:.1f} chunks/s ({run.status})"
            )
        print(f"speed-up with two workers: {timings[1] / timings[2]:.2f}x")
    finally:
        daemon.terminate()


def _start_workers(count: int, threads: int, database_url: str, work: Path) -> list[subprocess.Popen]:
    from django.conf import settings

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NYXSYNC_TORCH_THREADS": str(threads),
        "NYXSYNC_WARM_MODEL_ON_START": "true",
        "LOG_LEVEL": "INFO",
    }
    procs, logs = [], []
    for n in range(count):
        log = work / f"worker-{count}-{n}.log"
        logs.append(log)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "nyxsync", "worker", "--concurrency", "1", "--hostname", f"bench{n}-{uuid.uuid4().hex[:6]}@%h",
             "--queues", queue, "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
        ))
    deadline = time.monotonic() + 120
    while not all("embeddings.backend.loaded" in log.read_text() for log in logs):  # warm models, as in production
        if time.monotonic() > deadline:
            raise SystemExit("workers did not load the model in 120 s")
        time.sleep(0.5)
    return procs


def _timed_sync(user, repo_url: str, name: str):
    from syncs.models import SyncRun
    from syncs.services import project_link, sync_run_enqueue

    sync = project_link(owner=user, repository=repo_url, branch="main", name=name)
    started = time.monotonic()
    run, _ = sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND)
    while run.is_active:
        time.sleep(0.2)
        run.refresh_from_db()
    return time.monotonic() - started, run


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# --- search on 100k chunks ----------------------------------------------------------------------


def search_part(target: int, queries: int) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    from embeddings.backends import get_backend
    from embeddings.manifest import StagedFile, manifest_stage
    from embeddings.vectors import embedding_model_register, vector_index_definition, vector_index_name, vectors_write
    from syncs.models import ProjectSync
    from syncs.services import project_link

    settings.NYXSYNC_EMBEDDING_MODEL = "hashing-256"
    existing = ProjectSync.objects.filter(project__name="big", live_generation=1).first()
    if existing is not None:  # --keep: the branch is loaded already
        from embeddings.models import Chunk, EmbeddingModel

        texts = dict(Chunk.objects.filter(project=existing.project).values_list("content_hash", "text"))
        print(f"\nsearch: reusing {len(texts)} chunks")
        _measure(existing, EmbeddingModel.objects.get(name="hashing-256"), texts, queries)
        return
    started = time.monotonic()
    files = _code_files(target)
    chunk_count = sum(len(file.chunks) for file in files)
    print(f"\nsearch: {len(files)} files, {chunk_count} chunks of real code (chunked in {time.monotonic() - started:.1f} s)")

    user = get_user_model().objects.create_user("bench-search")
    sync = project_link(owner=user, repository="git://127.0.0.1:9/big.git", branch="main", name="big")
    manifest_stage(sync, generation=1, retire_ids=[], files=[StagedFile(**vars(f)) for f in files])
    backend = get_backend("hashing-256")
    model = embedding_model_register(name=backend.name, backend=backend.backend, dimensions=backend.dimensions)
    texts = {chunk.content_hash: chunk.text for file in files for chunk in file.chunks}
    index = vector_index_name(model)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {index}")  # bulk load, then build once
    started = time.monotonic()
    hashes = list(texts)
    for start in range(0, len(hashes), 2000):
        batch = hashes[start : start + 2000]
        vectors_write(model, batch, backend.embed([texts[h] for h in batch]), tenant_id=user.pk)
    print(f"  embedded and stored {len(hashes)} vectors in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        # As migrate builds it on a populated database: every vector indexed, then one build.
        cursor.execute("UPDATE embeddings_vector SET indexed = true WHERE model_id = %s AND NOT indexed", [model.pk])
        cursor.execute(f"CREATE INDEX {index} {vector_index_definition(model)}")
        cursor.execute("ANALYZE embeddings_vector; ANALYZE embeddings_chunk; ANALYZE embeddings_sourcefile")
    print(f"  HNSW index built in {time.monotonic() - started:.1f} s")
    ProjectSync.objects.filter(pk=sync.pk).update(live_generation=1, live_chunk_count=chunk_count, embedding_model="hashing-256")
    sync.refresh_from_db()
    _measure(sync, model, texts, queries)


def _measure(sync, model, texts: dict[str, str], count: int) -> None:
    from embeddings.search import nearest_chunks, search

    rng = random.Random(7)
    samples = rng.sample(list(texts.values()), count)
    queries = [" ".join(sample.split()[:8]) for sample in samples]
    search(project_syncs=[sync], query="warm up", k=10)
    latencies, recalls, exact_ms = [], [], []
    for query in queries:
        started = time.monotonic()
        search(project_syncs=[sync], query=query, k=10)
        latencies.append((time.monotonic() - started) * 1000)
        approximate = nearest_chunks(project_syncs=[sync], query=query, limit=max(50, 4 * 10), exact=False)[:10]  # as search() asks
        started = time.monotonic()
        exact = nearest_chunks(project_syncs=[sync], query=query, limit=10, exact=True)
        exact_ms.append((time.monotonic() - started) * 1000)
        recalls.append(len(set(approximate) & set(exact)) / max(len(exact), 1))
    identifier_ms, first_is_definition = [], []
    names = [name for text in samples for name in re.findall(r"\bdef ([A-Za-z_][A-Za-z0-9_]{3,})", text)][:count]
    for name in names:
        started = time.monotonic()
        hits = search(project_syncs=[sync], query=name, k=10)
        identifier_ms.append((time.monotonic() - started) * 1000)
        first_is_definition.append(bool(hits and re.search(rf"\bdef {re.escape(name)}\b", hits[0].text)))
    if names:
        print(
            f"  {len(names)} identifier queries (a name defined in a sampled chunk): p50 {percentile(identifier_ms, 0.5):.1f} ms, "
            f"p95 {percentile(identifier_ms, 0.95):.1f} ms; a definition of the name ranked first for {sum(first_is_definition) / len(names):.0%}"
        )
    print(
        f"  search() of {count} queries, k=10: p50 {percentile(latencies, 0.5):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms "
        f"(goal p95 < 50 ms); recall@10 of the index scan vs exact: {sum(recalls) / len(recalls):.3f} (goal >= 0.95); "
        f"exact vector scan alone: p50 {percentile(exact_ms, 0.5):.0f} ms"
    )


def _code_files(target: int):
    """Chunked .py files of this virtualenv until `target` distinct chunks."""
    from django.conf import settings

    from embeddings.chunking import chunk_text
    from embeddings.manifest import StagedFile

    site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    files, seen = [], set()
    for path in sorted(site.rglob("*.py")):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if "\x00" in text:
            continue
        relative = str(path.relative_to(site))
        chunks = [c for c in chunk_text(relative, text, max_chars=settings.NYXSYNC_CHUNK_MAX_CHARS) if c.content_hash not in seen]
        if not chunks:
            continue
        seen.update(c.content_hash for c in chunks)
        chunks = [type(c)(n, c.start_line, c.end_line, c.text, c.content_hash) for n, c in enumerate(chunks)]
        files.append(StagedFile(relative, f"{len(files):040x}", len(text), "python", "", chunks))
        if len(seen) >= target:
            break
    return files


# --- the text-search vector's cost on chunk writes ----------------------------------------------


def _python_text_search(text: str) -> str:
    """A tsvector literal for `text`: its ASCII letter-and-digit runs, lower-cased, at positions
    1, 2, ... (what search's query side, embeddings.search.text_terms, can ever match)."""
    positions: dict[str, list[str]] = {}
    for n, word in enumerate(re.findall(r"[A-Za-z0-9]+", text), start=1):
        if len(word) < 2047:
            positions.setdefault(word.lower(), []).append(str(min(n, 16383)))
    return " ".join(f"{word}:{','.join(spots[:256])}" for word, spots in positions.items())


# Every printable ASCII character that is not a letter or digit, and as many spaces.
_PUNCTUATION = "'" + "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()).replace("'", "''") + "'"
_SPACES = "'" + " " * 32 + "'"


def writes_part(target: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, connections, transaction

    from embeddings.manifest import TEXT_SEARCH_SQL, _insert_files
    from embeddings.symbols import defined_names
    from nyxsync.db import as_migration_role
    from syncs.services import project_link

    files = _code_files(target)
    chunks = sum(len(file.chunks) for file in files)
    print(f"\nchunk writes: {len(files)} files, {chunks} chunks of real code; CPU {cpu_name()}; load average {os.getloadavg()[0]:.1f}")
    user = get_user_model().objects.create_user(f"bench-writes-{uuid.uuid4().hex[:6]}")
    sync = project_link(owner=user, repository="git://127.0.0.1:9/writes.git", branch="main", name="writes")
    variants = {
        "as the pipeline (regexp_replace, to_tsvector 'simple')": f"{TEXT_SEARCH_SQL}",
        "no text-search vector": "NULL",
        "to_tsvector('simple', text), no regexp_replace": "to_tsvector('simple'::regconfig, text)",
        "translate() of ASCII punctuation, to_tsvector 'simple'": f"to_tsvector('simple'::regconfig, translate(text, {_PUNCTUATION}, {_SPACES}))",
        "from Python, a tsvector literal": "literal::tsvector",
    }

    def write(expression: str, generation: int) -> float:
        started = time.perf_counter()
        for start in range(0, len(files), 500):  # as the pipeline stages them (NYXSYNC_STAGE_BATCH_FILES)
            batch = files[start : start + 500]
            literal = expression.startswith("literal")
            with transaction.atomic(), connection.cursor() as cursor:
                ids = _insert_files(cursor, sync, generation, batch)
                cursor.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS bench_chunks (file_id bigint, project_id bigint, ordinal integer, start_line integer, "
                    "end_line integer, content_hash varchar(64), text text, symbols varchar(200)[], literal text) ON COMMIT DELETE ROWS"
                )
                columns = "file_id, project_id, ordinal, start_line, end_line, content_hash, text, symbols"
                with cursor.cursor.copy(f"COPY bench_chunks ({columns}, literal) FROM STDIN WITH (FORMAT BINARY)") as copy:
                    copy.set_types(["int8", "int8", "int4", "int4", "int4", "varchar", "text", "varchar[]", "text"])
                    for file_id, staged in zip(ids, batch, strict=True):
                        for c in staged.chunks:
                            row = (file_id, sync.project_id, c.ordinal, c.start_line, c.end_line, c.content_hash, c.text, defined_names(c.text))
                            copy.write_row((*row, _python_text_search(c.text) if literal else None))
                cursor.execute(f"INSERT INTO embeddings_chunk ({columns}, text_search) SELECT {columns}, {expression} FROM bench_chunks")
        return time.perf_counter() - started

    def clean() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM embeddings_chunk WHERE project_id = %s", [sync.project_id])
            cursor.execute("DELETE FROM embeddings_sourcefile WHERE project_id = %s", [sync.project_id])

    def rounds(label: str) -> None:
        seconds = {name: [] for name in variants}
        for generation in range(1, 4):  # interleaved: each round writes every variant once
            for name, expression in variants.items():
                seconds[name].append(write(expression, generation))
                clean()
        print(f"  {label}:")
        for name, times in seconds.items():
            median = sorted(times)[1]
            print(f"    {name:<56} {chunks / median:8,.0f} chunks/s (median of 3, {median:.2f} s); load average {os.getloadavg()[0]:.1f}")

    rounds("with the GIN index on the text-search vector")
    # How many chunks' vectors each way changes against the pipeline's expression.
    for name in list(variants)[2:]:
        write(variants[name], 1)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE text_search <> {TEXT_SEARCH_SQL}), count(*) FROM embeddings_chunk WHERE project_id = %s",
                [sync.project_id],
            )
            differ, total = cursor.fetchone()
        print(f"  {name}: differs from the pipeline's vector for {differ:,} of {total:,} chunks")
        clean()
    owner = connections["default"]
    with as_migration_role(owner), owner.cursor() as cursor:
        cursor.execute("DROP INDEX chunk_text_search")
    rounds("without the GIN index (what the index costs)")


# --- sync throughput by repository size ----------------------------------------------------------


def sync_part(work: Path, database_url: str, sizes: list[int], *, hnsw: bool) -> None:
    import json

    index = "with its HNSW index" if hnsw else "without an HNSW index"
    print(f"\nsync by repository size (generated Python modules, hashing-256 {index}; CPU {cpu_name()}; load average {os.getloadavg()[0]:.1f} at start)")
    if hnsw:
        register_models({"hashing-256"})  # else the sync registers it as the app's role, which builds no index
    daemon, repo_url, bare = serve_repository(work)
    outside_by_size = []  # (files, chunks, seconds outside the model)
    try:
        for size in sizes:
            source = work / f"sync-{size}"
            write_modules(source, size)
            commit_tree(work / f"tree-{size}", source, bare, f"{size} files")
            shutil.rmtree(source)
            # Each size by a tenant of its own: no vector of a smaller repository is reused.
            child = subprocess.run(
                [sys.executable, __file__, "--sync-child", database_url, repo_url, f"bench-sync-{size}-{uuid.uuid4().hex[:6]}"],
                cwd=ROOT, capture_output=True, text=True, timeout=7200,
            )  # fmt: skip
            if child.returncode != 0:
                print(f"  {size:>6,} files: the sync did not succeed: {(child.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
            result = json.loads(child.stdout.strip().splitlines()[-1])
            outside = result["seconds"] - result["model_seconds"]
            print(
                f"  {result['files']:>6,} files, {result['chunks']:>7,} chunks: sync {result['seconds']:6.1f} s, "
                f"in the model {result['model_seconds']:5.1f} s; outside it {result['chunks'] / outside:6,.0f} chunks/s, "
                f"{outside / result['files'] * 1e6:5,.0f} us per file; peak memory {result['rss_mib']:,.0f} MiB; "
                f"phases {result['phases']}; load average {os.getloadavg()[0]:.1f}"
            )
            outside_by_size.append((result["files"], result["chunks"], outside))
    finally:
        daemon.terminate()
    # A run's fixed costs (fetch, run start and end, events) weigh on a small repository's cost per
    # file; what each further file costs is the slope from one size to the next.
    for (files_a, chunks_a, seconds_a), (files_b, chunks_b, seconds_b) in itertools.pairwise(outside_by_size):
        extra = max(seconds_b - seconds_a, 1e-9)
        print(
            f"  {files_a:>6,} -> {files_b:,} files, outside the model: {extra / (files_b - files_a) * 1e6:5,.0f} us per further file, "
            f"{(chunks_b - chunks_a) / extra:6,.0f} chunks/s"
        )


_WORDS = (
    "account order invoice cache token session user report stream buffer queue route record field "
    "schema parser render widget filter budget ledger upload socket thread signal packet archive"
).split()


def write_modules(folder: Path, count: int) -> None:
    """`count` Python modules of about 1.5 KB, each different (names, numbers, docstrings), in
    folders of 100: the same kind of file whatever the repository's size, so the cost per file
    can be compared from one size to another."""
    for n in range(count):
        k = len(_WORDS)
        a, b, c = _WORDS[n % k], _WORDS[n // k % k], _WORDS[n // k // k % k]
        path = folder / f"pkg{n // 100:04d}" / f"{a}_{b}_{n}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f'''"""{a.title()} {b} helpers for the {c} service (module {n})."""

import logging

logger = logging.getLogger(__name__)
LIMIT_{n} = {n % 997 + 3}


class {a.title()}{b.title()}{n}:
    """Keeps the {b} of one {a}, at most LIMIT_{n} of them."""

    def __init__(self, {c}_id: int):
        self.{c}_id = {c}_id
        self.{b}s = []

    def add_{b}(self, value):
        if len(self.{b}s) >= LIMIT_{n}:
            logger.warning("{a}.{b}.full", extra={{"{c}": self.{c}_id}})
            return False
        self.{b}s.append(value * {n % 13 + 2})
        return True


def load_{a}_{b}_{n}(rows: list[dict]) -> {a.title()}{b.title()}{n}:
    """Build the {a} {b} from rows read by the {c} loader ({n % 7} retries)."""
    store = {a.title()}{b.title()}{n}(rows[0]["{c}_id"] if rows else {n})
    for row in rows:
        if row.get("{b}") is not None and row.get("kind") != "{c}":
            store.add_{b}(row["{b}"] + {n % 31})
    return store


def total_{b}_{n}(store: {a.title()}{b.title()}{n}) -> int:
    return sum(value for value in store.{b}s if value % {n % 5 + 2})
'''
        )


def sync_child(database_url: str, repository: str, username: str) -> None:
    """One full sync in this fresh process, as a worker runs it; prints its figures as JSON."""
    import json
    import resource

    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "nyxsync.settings"
    os.environ["NYXSYNC_EMBEDDING_MODEL"] = "hashing-256"
    os.environ["NYXSYNC_INSECURE_GIT_HOSTS"] = "127.0.0.1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from embeddings.backends import get_backend
    from nyxsync import tenancy
    from syncs.models import SyncRun
    from syncs.pipeline import sync_run_execute
    from syncs.services import project_link, sync_run_enqueue

    tenancy.act_as_system_by_default()  # as manage.py does; the run itself acts for its project
    model_clock = ModelClock(get_backend("hashing-256"))
    user = get_user_model().objects.create_user(username)
    project_sync = project_link(owner=user, repository=repository, branch="main", name=username)
    run, _ = sync_run_enqueue(project_sync=project_sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    started = time.perf_counter()
    run = sync_run_execute(run.pk)
    seconds = time.perf_counter() - started
    if run.status != SyncRun.Status.SUCCEEDED:
        raise SystemExit(f"{run.status}: {run.error}")
    project_sync.refresh_from_db()
    print(json.dumps({
        "files": run.files_seen, "chunks": project_sync.live_chunk_count, "seconds": seconds, "model_seconds": model_clock.seconds,
        "phases": {phase: round(value, 1) for phase, value in run.phase_seconds.items()},
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
