"""Hybrid search: definitions first for identifiers, filters, k results under selective filters."""

import re

import pytest

from embeddings.search import SearchError, glob_to_regex, search
from syncs.models import SyncRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_owner")]


def synced_repo(make_repo, link, sync_now, files: dict[str, str], name=None):
    repo = make_repo(name)
    for path, text in files.items():
        repo.write(path, text)
    repo.commit()
    sync = link(repo)
    assert sync_now(sync).status == SyncRun.Status.SUCCEEDED
    return sync


def test_an_identifier_query_ranks_its_definition_first(make_repo, link, sync_now, settings):
    settings.NYXSYNC_EMBEDDING_MODEL = "all-MiniLM-L6-v2"  # the real model: the vector alone ranks usages high
    files = {
        "billing/totals.py": "def compute_invoice_total(lines):\n    \"\"\"Sum of the lines.\"\"\"\n    return sum(line.amount for line in lines)\n",
    }
    for n in range(8):
        files[f"views/checkout{n}.py"] = (
            f"def checkout_{n}(order):\n    total = compute_invoice_total(order.lines)\n"
            f"    order.total = total\n    return render_total(order, total, {n})\n"
        )
    sync = synced_repo(make_repo, link, sync_now, files)

    [first, *rest] = search(project_syncs=[sync], query="compute_invoice_total", k=5)

    assert (first.path, first.start_line) == ("billing/totals.py", 1)
    assert first.model == "all-MiniLM-L6-v2" and 0 < first.score <= 1
    assert len(rest) == 4 and all(hit.path.startswith("views/") for hit in rest)


def test_a_selective_filter_still_returns_k_results(make_repo, link, sync_now, settings):
    settings.NYXSYNC_SEARCH_EXACT_MAX_CHUNKS = 0  # the index path: the planner may still prefer exact for so few rows
    crowd = {f"crowd/handler{n}.py": f"def handle_request_{n}(request):\n    return respond(request, status={n})\n" for n in range(300)}
    synced_repo(make_repo, link, sync_now, crowd)  # another branch, nearer to the query
    ours = {f"app/part{n}.py": f"class Part{n}:\n    weight = {n}\n" for n in range(30)}
    ours.update({f"docs/note{n}.md": f"# Note {n}\n\nA note.\n" for n in range(30)})
    sync = synced_repo(make_repo, link, sync_now, ours)

    hits = search(project_syncs=[sync], query="handle request respond status", k=10, path_glob="app/*.py")

    assert len(hits) == 10
    assert all(re.fullmatch(r"app/part\d+\.py", hit.path) for hit in hits)


def test_filters_by_language_and_never_leave_the_given_branches(make_repo, link, sync_now):
    mine = synced_repo(make_repo, link, sync_now, {"a.py": "def shared():\n    pass\n", "b.md": "# shared\n\nshared words\n"})
    synced_repo(make_repo, link, sync_now, {"z.py": "def shared():\n    pass\n"})

    assert {hit.path for hit in search(project_syncs=[mine], query="shared", k=10)} == {"a.py", "b.md"}
    assert {hit.path for hit in search(project_syncs=[mine], query="shared", k=10, language="markdown")} == {"b.md"}


@pytest.mark.parametrize(
    ("glob", "matches", "misses"),
    [
        ("*.py", ["a.py", "src/deep/b.py"], ["a.pyc", "a.py/x"]),
        ("src/*.py", ["src/a.py"], ["src/deep/b.py", "other/src/a.py"]),
        ("src/**/*.py", ["src/a.py", "src/deep/b.py"], ["lib/a.py"]),
        ("docs/?.md", ["docs/a.md"], ["docs/ab.md"]),
        ("a+b(c).txt", ["a+b(c).txt"], ["aab(c).txt"]),
    ],
)
def test_path_globs_become_anchored_regular_expressions(glob, matches, misses):
    pattern = glob_to_regex(glob)
    python = re.compile(pattern.replace("(^|/)", "(?:^|/)"))
    assert all(python.search(path) for path in matches)
    assert not any(python.search(path) for path in misses)


@pytest.mark.parametrize(
    ("query", "k", "options", "message"),
    [
        ("   ", 10, {}, "the query is empty"),
        ("x" * 3000, 10, {}, "longer than"),
        ("ok", 0, {}, "k must be between"),
        ("ok", 101, {}, "k must be between"),
        ("ok", 10, {"language": "python'; drop table x"}, "unknown language"),
        ("ok", 10, {"path_glob": "a\x00b"}, "control characters"),
    ],
)
def test_bad_input_is_refused_with_a_message(query, k, options, message):
    with pytest.raises(SearchError, match=message):
        search(project_syncs=[], query=query, k=k, **options)


def settings_and_configs(*, config: str) -> dict[str, str]:
    """A settings loader, a yaml config loader (`config`) and six defaults that all say "load the
    settings file": the question below is about yaml."""
    files = {
        "settings.py": 'def load_settings(path):\n    """Read the settings file."""\n    with open(path) as handle:\n        return parse_settings(handle.read())\n',
        "config.py": config,
    }
    # Words of the question most chunks hold: they say little.
    files.update({f"defaults{n}.py": f"def defaults_{n}():\n    # load the settings file\n    return load_defaults({n})\n" for n in range(6)})
    return files


def test_a_rare_word_of_a_plain_question_lifts_the_candidate_that_holds_it(make_repo, link, sync_now, settings, monkeypatch):
    settings.NYXSYNC_EMBEDDING_MODEL = "all-MiniLM-L6-v2-int8-r2"  # the default model, with the shipped weight
    files = settings_and_configs(config="def read_settings(location):\n    with open(location) as stream:\n        return yaml.safe_load(stream)\n")
    sync = synced_repo(make_repo, link, sync_now, files)
    question = "load settings from a yaml file"
    monkeypatch.setattr("embeddings.search.HUB_WEIGHT", 0.0)  # the re-ranking's words alone

    reranked = [hit.path for hit in search(project_syncs=[sync], query=question, k=3)]
    monkeypatch.setattr("embeddings.search.RERANK_WEIGHT", 0.0)
    by_vector = [hit.path for hit in search(project_syncs=[sync], query=question, k=3)]

    assert by_vector.index("settings.py") < by_vector.index("config.py")  # the vector alone prefers the other
    assert reranked[0] == "config.py"


def test_a_candidate_like_the_crowd_of_the_others_gives_way_to_one_that_stands_out(make_repo, link, sync_now, settings, monkeypatch):
    settings.NYXSYNC_EMBEDDING_MODEL = "all-MiniLM-L6-v2-int8-r2"  # the default model, with the shipped weight
    files = settings_and_configs(config="def read_config(location):\n    with open(location) as stream:\n        return yaml.safe_load(stream)\n")
    sync = synced_repo(make_repo, link, sync_now, files)
    question = "load settings from a yaml file"
    monkeypatch.setattr("embeddings.search.RERANK_WEIGHT", 0.0)  # the vectors alone: no word of the question counts

    shipped = search(project_syncs=[sync], query=question, k=3)
    monkeypatch.setattr("embeddings.search.HUB_WEIGHT", 0.0)
    by_vector = [hit.path for hit in search(project_syncs=[sync], query=question, k=3)]

    # settings.py is nearer to the question (by 0.035 of cosine) and to the six defaults alike.
    assert by_vector[0] == "settings.py"
    assert [hit.path for hit in shipped][:2] == ["config.py", "settings.py"]
    assert shipped[0].score < shipped[1].score  # hits still carry their own cosine
