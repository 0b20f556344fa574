"""Docstring queries find their defining files: a real codebase (tenacity, as installed) served by
`git daemon`, synced with the default model (int8-r2 MiniLM) by the real pipeline, and searched
through embeddings.search, as issue 16's held-out check does on a larger codebase
(bench/docstrings.py)."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

from embeddings.search import search
from syncs.models import SyncRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_owner")]
TENACITY = Path(settings.BASE_DIR) / ".venv/lib/python3.11/site-packages/tenacity"
DEFAULT_MODEL = "all-MiniLM-L6-v2-int8-r2"


def docstring_queries(tree: Path) -> list[tuple[str, str]]:
    """(first sentence of the first public module-level def/class docstring, file) for each file
    that has one: the rule of bench/docstrings.py, on a tree small enough to take every file."""
    queries = []
    for path in sorted(tree.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                docstring = " ".join((ast.get_docstring(node) or "").split("\n\n")[0].split())
                sentence = docstring.split(". ")[0].rstrip(".")
                if len(sentence.split()) >= 4:
                    queries.append((sentence, path.relative_to(tree).as_posix()))
                    break
    return queries


def test_docstring_queries_find_their_defining_files(settings, make_repo, link, sync_now):
    queries = docstring_queries(TENACITY)
    assert len(queries) >= 8  # the rule finds enough in tenacity for the check to mean something
    repo = make_repo()
    repo.copy_tree(TENACITY, "tenacity")
    repo.commit()
    settings.NYXSYNC_EMBEDDING_MODEL = DEFAULT_MODEL  # what a new branch gets (sync_now set hashing-256)
    sync = link(repo)
    run = sync_now(sync)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    sync.refresh_from_db()
    assert sync.embedding_model == DEFAULT_MODEL

    # Near-twins among them ("Before call strategy that does nothing" / "After call ..."): the
    # defining file must come in the first three hits, among tenacity's ~15 files.
    missed = []
    for query, path in queries:
        hits = [hit.path for hit in search(project_syncs=[sync], query=query, k=3)]
        if f"tenacity/{path}" not in hits:
            missed.append((query, path, hits))
    assert len(missed) <= len(queries) // 10, missed
