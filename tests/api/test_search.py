"""Search through the API over snapshots made by the real pipeline (hashing-256 model) from
repositories on the local git server."""

import pytest

from syncs import services
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute
from tests.api.test_access import assert_error

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]


@pytest.fixture
def synced(owner, outsider, make_repo, git_cache, settings):
    """Two branches of the owner's project and one of the outsider's, synced in process."""
    settings.NYXSYNC_EMBEDDING_MODEL = "hashing-256"
    repo = make_repo()
    repo.write("billing.py", "def compute_invoice_total(lines):\n    return sum(line.amount for line in lines)\n")
    main = repo.commit()
    repo.checkout("dev").write("users.py", "class UserRepository:\n    def find_by_email(self, email):\n        pass\n")
    dev = repo.commit()
    theirs = make_repo()
    theirs.write("invoice.py", "def compute_invoice_total(rows):\n    return 0\n").commit()

    syncs = {
        "main": services.project_link(owner=owner, repository=repo.url, branch="main", name="mine"),
        "dev": services.project_link(owner=owner, repository=repo.url, branch="dev", name="mine"),
        "theirs": services.project_link(owner=outsider, repository=theirs.url, branch="main", name="theirs"),
    }
    for sync in syncs.values():
        run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
        assert sync_run_execute(run.pk).status == SyncRun.Status.SUCCEEDED
    return syncs, {"main": main, "dev": dev}


def test_it_finds_the_nearest_chunks_of_the_users_own_branches(api, synced):
    syncs, commits = synced

    response = api.post("/api/v1/search/", {"query": "compute_invoice_total", "k": 5}, format="json")

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    best = results[0]
    assert (best["path"], best["start_line"], best["end_line"], best["commit"]) == ("billing.py", 1, 2, commits["main"])
    assert best["text"].startswith("def compute_invoice_total(lines):")
    assert best["project"] == str(syncs["main"].project.uuid) and 0 < best["score"] <= 1
    assert {r["project"] for r in results} == {str(syncs["main"].project.uuid)}  # never the outsider's
    assert results == sorted(results, key=lambda r: -r["score"])


def test_it_narrows_to_a_project_and_a_branch(api, outsider_api, synced):
    syncs, commits = synced
    project = syncs["main"].project

    dev_only = api.post("/api/v1/search/", {"query": "find_by_email", "project": str(project.uuid), "branch": "dev", "k": 10}, format="json")
    foreign = outsider_api.post("/api/v1/search/", {"query": "x", "project": str(project.uuid)}, format="json")

    assert {(r["branch"], r["commit"]) for r in dev_only.json()["results"]} == {("dev", commits["dev"])}
    assert_error(foreign, 404, "not_found")
    no_such_branch = api.post("/api/v1/search/", {"query": "x", "project": str(project.uuid), "branch": "nope"}, format="json")
    assert no_such_branch.status_code == 200 and no_such_branch.json()["results"] == []
    by_path = api.post("/api/v1/search/", {"query": "find_by_email", "path": "billing*", "k": 10}, format="json")
    assert {r["path"] for r in by_path.json()["results"]} == {"billing.py"}
    by_language = api.post("/api/v1/search/", {"query": "x", "language": "markdown"}, format="json")
    assert by_language.status_code == 200 and by_language.json()["results"] == []


@pytest.mark.parametrize(
    "payload, field",
    [({"query": "   "}, "query"), ({"query": "x", "k": 0}, "k"), ({"query": "x", "k": 101}, "k"), ({"k": 3}, "query"), ({"query": "x", "project": "nope"}, "project"), ({"query": "x", "language": "no such"}, "")],
)
def test_it_refuses_bad_search_input(api, payload, field):
    response = api.post("/api/v1/search/", payload, format="json")

    assert_error(response, 400)
    assert list(response.json()["fields"]) == ([field] if field else [])
