"""Retrieval benchmark on public data: CoSQA (500 real web queries over 6,267 Python functions).

    .venv/bin/python bench/retrieval.py [--split test|dev] [--models all-MiniLM-L6-v2 all-MiniLM-L6-v2-int8-r2] [--keep]
        [--try "RERANK_WEIGHT=0.2" "RERANK_WEIGHT=0.2;WEIGHTS=(1.0, 0.5, 1.0)" ...] [--losses N]

For each model, side by side in one run:
- raw dense: the model alone, each function embedded whole, brute-force cosine over all of them;
- nyxsync: the corpus committed as a git repository (one file per function), synced by the real
  pipeline into the embedded PostgreSQL + pgvector, and searched with embeddings.search (hybrid:
  vector neighbours, full-text matches and definitions, fused).
Prints MRR@100, recall@1/5/10 and nDCG@10 for each, the model seconds per 1,000 characters, and
the CPU. Tune on dev (`--split dev`), report test. `--keep` keeps the synced database
(nyxsync_bench_retrieval) for the next run, so a change to the search can be measured in a minute;
`--try` measures other values of embeddings.search's tuning constants beside the current ones on
the same synced corpus (a row each). Figures only: nothing passes or fails.

Data: ../shared/data/cosqa (CoSQA, Huang et al. 2021, MIT licence; see its README).
"""

import argparse
import ast
import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, commit_tree, cpu_name, drop_database, serve_repository, setup_django, sync_branch

DATA = ROOT.parent / "shared" / "data" / "cosqa"
MODELS = ["all-MiniLM-L6-v2", "all-MiniLM-L6-v2-int8-r2"]
TORCH = "all-MiniLM-L6-v2"
DEPTH = 100  # ranks looked at for MRR (search's own maximum k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=["test", "dev"], default="test")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--keep", action="store_true", help="keep the synced database for the next run")
    parser.add_argument(
        "--try", dest="settings", nargs="+", default=[], type=_setting, metavar="NAME=VALUE[;NAME=VALUE]",
        help="other values of embeddings.search's constants (RERANK_WEIGHT, WEIGHTS, RRF_K, ...), a hybrid row each",
    )
    parser.add_argument("--losses", type=int, default=0, metavar="N", help="print the N queries each hybrid setting ranks worst against raw dense")
    args = parser.parse_args()

    corpus = json.loads((args.data / "code_idx_map.txt").read_text())  # code -> id
    codes = {index: code for code, index in corpus.items()}
    queries = [(item["doc"], item["retrieval_idx"]) for item in json.loads((args.data / f"cosqa-retrieval-{args.split}-500.json").read_text())]
    print(f"CoSQA {args.split}: {len(queries)} queries over {len(codes)} functions; CPU: {cpu_name()}, {os.cpu_count()} cores")

    work = Path(tempfile.mkdtemp(prefix="nyxsync-bench-retrieval-"))
    database = "nyxsync_bench_retrieval" if args.keep else f"nyxsync_bench_retrieval_{os.getpid()}"
    setup_django(work, database, model=args.models[0], reuse=args.keep)
    daemon = None
    try:
        daemon, url, bare = serve_repository(work)
        tree = work / "corpus"
        for index, code in codes.items():
            path = tree / "cosqa" / f"{index:05d}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code + "\n")
        commit_tree(work / "tree", tree, bare, "CoSQA corpus")
        results = []
        for model in args.models:
            results += _measure_model(model, codes, queries, url, args)
        _print_table(results)
    finally:
        if daemon:
            daemon.terminate()
        if not args.keep:
            drop_database(database)
        shutil.rmtree(work, ignore_errors=True)


def _measure_model(model: str, codes: dict[int, str], queries: list, url: str, args) -> list[dict]:
    from embeddings.backends import get_backend

    backend = get_backend(model)
    backend.embed(["warm up"])
    sync, sync_seconds = _synced(model, url)
    ids = list(codes)
    texts = [codes[index] for index in ids]
    vectors, embedded, per_kchar = _raw_vectors(backend, texts)
    query_vectors = backend.embed([query for query, _ in queries])
    scores = query_vectors @ vectors.T
    dense = [[ids[j] for j in np.argsort(-row)[:DEPTH]] for row in scores]
    raw = {"model": model, "method": "raw dense", **_metrics(dense, queries)}
    raw["note"] = f"{len(texts) - embedded} vectors read from the sync, {embedded} embedded"
    if embedded:
        raw["note"] += f" ({per_kchar:.3f} s per 1,000 chars)"

    rows = [raw]
    for setting in [{}, *args.settings]:
        started = time.monotonic()
        with _constants(setting):
            hybrid = [_search_ids(sync, query) for query, _ in queries]
        search_ms = (time.monotonic() - started) * 1000 / len(queries)
        note = f"search {search_ms:.0f} ms/query"
        if sync_seconds is not None and not setting:
            note = f"full sync {sync_seconds:.0f} s; " + note
        label = "; ".join(f"{name}={value!r}" for name, value in setting.items())
        rows.append({"model": model, "method": "nyxsync hybrid", "setting": label, **_metrics(hybrid, queries), "note": note})
        if args.losses:
            _print_losses(model, label or "as it is", dense, hybrid, queries, args.losses)
    return rows


def _print_losses(model: str, label: str, dense: list, hybrid: list, queries: list, count: int) -> None:
    """The queries whose relevant function the hybrid ranks lower than raw dense does, worst
    (by their share of nDCG@10) first: what a setting costs, to read before tuning further."""

    def gain(rank: int | None) -> float:
        return 1 / math.log2(rank + 1) if rank and rank <= 10 else 0.0

    pairs = list(zip(_ranks(dense, queries), _ranks(hybrid, queries), [query for query, _ in queries], strict=True))
    lost = sorted((pair for pair in pairs if gain(pair[1]) < gain(pair[0])), key=lambda pair: gain(pair[1]) - gain(pair[0]))
    won = sum(1 for pair in pairs if gain(pair[1]) > gain(pair[0]))
    print(f"\n{model} [{label}]: {won} queries ranked higher than raw dense, {len(lost)} lower; the worst (dense -> hybrid rank):")
    for dense_rank, hybrid_rank, query in lost[:count]:
        print(f"  {dense_rank or '-':>3} -> {hybrid_rank or '-':<3} {query}")


def _setting(text: str) -> dict:
    """'NAME=VALUE;NAME=VALUE' as {name: value}: upper-case constants of embeddings.search, values
    as Python literals of the constant's type."""
    from embeddings import search  # only its constants: Django is set up before any search runs

    setting = {}
    for part in filter(None, (part.strip() for part in text.split(";"))):
        name, _, value = part.partition("=")
        name = name.strip()
        if not name.isupper() or not hasattr(search, name):
            raise argparse.ArgumentTypeError(f"{name!r} is not a constant of embeddings.search")
        try:
            setting[name] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError) as error:
            raise argparse.ArgumentTypeError(f"{name}: {value.strip()!r} is not a Python literal") from error
        current, numbers = getattr(search, name), (int, float)
        if not isinstance(setting[name], type(current)) and not (isinstance(current, numbers) and isinstance(setting[name], numbers)):
            raise argparse.ArgumentTypeError(f"{name} is a {type(current).__name__}")
    return setting


@contextlib.contextmanager
def _constants(setting: dict):
    """embeddings.search with `setting`'s constants for the block (it reads them at each search)."""
    from embeddings import search

    saved = {name: getattr(search, name) for name in setting}
    for name, value in setting.items():
        setattr(search, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(search, name, value)


def _raw_vectors(backend, texts: list[str]) -> tuple[np.ndarray, int, float]:
    """Each whole function's vector. The sync embedded the same texts (a function per file, most
    of them one chunk): a text whose hash has a vector of this model is read back, not embedded
    again (a text's vector depends on the text alone); the rest is embedded here."""
    from embeddings.models import EmbeddingModel, Vector

    model = EmbeddingModel.objects.get(name=backend.name)
    hashes = [hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() for text in texts]
    stored = dict(Vector.objects.filter(model=model, content_hash__in=hashes).values_list("content_hash", "embedding"))
    missing = [i for i, digest in enumerate(hashes) if digest not in stored]
    started = time.monotonic()
    fresh = dict(zip(missing, backend.embed([texts[i] for i in missing]), strict=True)) if missing else {}
    per_kchar = (time.monotonic() - started) * 1000 / max(sum(len(texts[i]) for i in missing), 1)
    vectors = np.stack([fresh[i] if i in fresh else np.asarray(stored[digest], dtype=np.float32) for i, digest in enumerate(hashes)])
    return vectors, len(missing), per_kchar


def _synced(model: str, url: str):
    """The model's branch of the corpus, synced (once; --keep reuses it)."""
    from syncs.models import ProjectSync

    name = f"cosqa-{model}"
    existing = ProjectSync.objects.filter(project__name=name, live_generation__gt=0).first()
    if existing is not None:
        return existing, None
    return sync_branch(model, url, name, username="bench-retrieval")


def _search_ids(sync, query: str) -> list[int]:
    from embeddings.search import MAX_K, search

    ranked = []
    for hit in search(project_syncs=[sync], query=query, k=MAX_K):
        index = int(Path(hit.path).stem)
        if index not in ranked:  # a long function may have several chunks: its best one counts
            ranked.append(index)
    return ranked


def _ranks(rankings: list[list[int]], queries: list) -> list[int | None]:
    """The rank of each query's relevant function (1 = first), None beyond DEPTH."""
    return [ranking.index(relevant) + 1 if relevant in ranking else None for ranking, (_, relevant) in zip(rankings, queries, strict=True)]


def _metrics(rankings: list[list[int]], queries: list) -> dict:
    ranks = _ranks(rankings, queries)
    count = len(ranks)

    def recall(k: int) -> float:
        return sum(1 for rank in ranks if rank and rank <= k) / count

    return {
        "mrr": sum(1 / rank for rank in ranks if rank) / count,
        "r1": recall(1),
        "r5": recall(5),
        "r10": recall(10),
        "ndcg10": sum(1 / math.log2(rank + 1) for rank in ranks if rank and rank <= 10) / count,
    }


def _print_table(results: list[dict]) -> None:
    print(f"\n{'model':<26} {'method':<15} {'MRR':>6} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'nDCG@10':>8}")
    for row in results:
        figures = " ".join(f"{100 * row[key]:>6.1f}" for key in ("mrr", "r1", "r5", "r10"))
        setting = f"[{row['setting']}] " if row.get("setting") else ""
        print(f"{row['model']:<26} {row['method']:<15} {figures} {100 * row['ndcg10']:>8.1f}   {setting}{row.get('note', '')}")
    # The comparisons are of the search as it is (rows of other --try settings aside).
    by = {(row["model"], row["method"]): row for row in results if not row.get("setting")}
    models = list(dict.fromkeys(row["model"] for row in results))
    for model in models:
        for method in ("raw dense", "nyxsync hybrid"):
            if model != TORCH and (TORCH, method) in by and (model, method) in by:
                delta = 100 * (by[(model, method)]["ndcg10"] - by[(TORCH, method)]["ndcg10"])
                print(f"{method}: {model} - torch nDCG@10 = {delta:+.1f} points (target >= -1.0)")
    for model in models:
        if (model, "raw dense") in by and (model, "nyxsync hybrid") in by:
            delta = 100 * (by[(model, "nyxsync hybrid")]["ndcg10"] - by[(model, "raw dense")]["ndcg10"])
            print(f"{model}: nyxsync hybrid - raw dense nDCG@10 = {delta:+.1f} points (target > 0)")


if __name__ == "__main__":
    main()
