"""Docstring check on the held-out codebase: do queries written as a public function's or class's
docstring find the file that defines it? (Issue 16: at least 9 in 10.)

    .venv/bin/python bench/docstrings.py [--package rich] [--version 14.0.0] [--models ...] [--queries 20] [--k 10]

The newest release bench/sync.py syncs is committed to a local `git daemon`, synced once per model
by the real pipeline into a scratch database, and each query is run two ways: dense (the branch's
vectors alone, nearest_chunks, exact) and nyxsync's hybrid search (embeddings.search). A query hits
when its defining file holds one of the first k chunks (k=10, the search's default). Prints the hits
of each model and way, and the queries missed. bench/sync.py runs the same check on the branch it
synced. Figures only: nothing passes or fails.

The queries, by a fixed rule (`docstring_queries`): files `*.py` in path order, tests left out;
in each, the first module-level `def` or `class` with a public name and a docstring whose first
sentence has 4-30 words; that sentence, whitespace collapsed, is the query; a sentence that opens
docstrings in more than one file is dropped (it names no one file); then `count` of them spread
evenly over the list. The docstring stays in the indexed code (that is where docstrings live), so
this checks that a chunk's own words still bring it up among a whole codebase's, not paraphrase.
"""

import argparse
import ast
import os
import re
import shutil
import tempfile
from pathlib import Path

from common import commit_tree, cpu_name, drop_database, release_tree, serve_repository, setup_django, sync_branch

MODELS = ["all-MiniLM-L6-v2", "all-MiniLM-L6-v2-int8-r2"]
TEST_FILES = re.compile(r"(^|/)(tests?|testing)/|(^|/)(test_[^/]*|conftest\.py)$")
SENTENCE_END = re.compile(r"\.(\s|$)")


def docstring_queries(tree: Path, count: int = 20) -> list[tuple[str, str]]:
    """(query, defining file) pairs from the source tree at `tree`, by the rule in this module's
    docstring: the same tree always gives the same queries."""
    firsts: list[tuple[str, str]] = []  # (sentence, path), one per file
    files_of: dict[str, set[str]] = {}  # sentence -> files where some docstring opens with it
    for path in sorted(tree.rglob("*.py")):
        relative = path.relative_to(tree).as_posix()
        if TEST_FILES.search(relative):
            continue
        try:
            module = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        chosen = None
        for node in module.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) or node.name.startswith("_"):
                continue
            sentence = first_sentence(ast.get_docstring(node) or "")
            if 4 <= len(sentence.split()) <= 30:
                files_of.setdefault(sentence.lower(), set()).add(relative)
                chosen = chosen or sentence
        if chosen:
            firsts.append((chosen, relative))
    unique = [(sentence, path) for sentence, path in firsts if len(files_of[sentence.lower()]) == 1]
    if len(unique) <= count:
        return unique
    return [unique[i * len(unique) // count] for i in range(count)]


def first_sentence(docstring: str) -> str:
    """The docstring's first paragraph up to its first full stop, on one line, without the stop."""
    paragraph = " ".join(docstring.strip().split("\n\n", 1)[0].split())
    match = SENTENCE_END.search(paragraph)
    return paragraph[: match.start()] if match else paragraph


def check(sync, queries: list[tuple[str, str]], k: int = 10) -> dict[str, list[int | None]]:
    """{'dense': ranks, 'hybrid': ranks}: the rank (1-based, among the first k chunks) of the first
    chunk of each query's defining file, None when none of the k is in it."""
    from embeddings.models import Chunk
    from embeddings.search import nearest_chunks, search

    ranks: dict[str, list[int | None]] = {"dense": [], "hybrid": []}
    for query, path in queries:
        ids = nearest_chunks(project_syncs=[sync], query=query, limit=k, exact=True)
        paths = dict(Chunk.objects.filter(id__in=ids).values_list("id", "file__path"))
        ranks["dense"].append(_rank([paths[i] for i in ids], path))
        ranks["hybrid"].append(_rank([hit.path for hit in search(project_syncs=[sync], query=query, k=k)], path))
    return ranks


def _rank(paths: list[str], wanted: str) -> int | None:
    return paths.index(wanted) + 1 if wanted in paths else None


def print_check(model: str, queries: list[tuple[str, str]], ranks: dict[str, list[int | None]], k: int) -> None:
    for way, found in ranks.items():
        hits = sum(rank is not None for rank in found)
        first = sum(rank == 1 for rank in found)
        verdict = "met" if hits >= 0.9 * len(found) else "NOT met"
        print(
            f"  {model} {way:<6}: defining file in the top {k} for {hits} of {len(found)} docstring queries "
            f"({hits / len(found):.0%}; goal >= 90%: {verdict}), first for {first}"
        )
        for (query, path), rank in zip(queries, found, strict=True):
            if rank is None:
                print(f"    missed: {path}: {query!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default="rich")
    parser.add_argument("--version", default="14.0.0", help="the newest release bench/sync.py syncs")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nyxsync-bench"))
    args = parser.parse_args()

    source = release_tree(args.package, args.version, args.cache)
    queries = docstring_queries(source, args.queries)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores, load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{args.package} {args.version}: {len(queries)} docstring queries over as many files; hit = defining file in the top {args.k} chunks")
    work = Path(tempfile.mkdtemp(prefix="nyxsync-bench-docstrings-"))
    database = f"nyxsync_bench_docstrings_{os.getpid()}"
    setup_django(work, database, model=args.models[0])
    daemon = None
    try:
        daemon, url, bare = serve_repository(work)
        commit_tree(work / "tree", source, bare, args.version)
        for model in args.models:
            sync, seconds = sync_branch(model, url, f"{args.package}-{model}", username="bench-docstrings")
            print(f"{model}: synced in {seconds:.0f} s")
            print_check(model, queries, check(sync, queries, args.k), args.k)
    finally:
        if daemon:
            daemon.terminate()
        drop_database(database)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
