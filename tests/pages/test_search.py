"""The search page: results with path, lines, score, an escaped and highlighted snippet and a
GitHub link when the repository is on GitHub; outsiders get 404."""

import uuid

import pytest
from django.urls import reverse

from embeddings.views import github_file_url, highlight, query_terms
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def search(client, project, **params):
    return client.get(reverse("search", kwargs={"project": project.uuid}), params)


def test_it_finds_the_chunk_and_highlights_the_query(owner_client, synced, demo_repo):
    project = synced.project_sync.project
    response = search(owner_client, project, q="compute_invoice_total")

    assert response.status_code == 200
    best = response.context["files"][0].best
    assert (best.path, best.start_line, best.end_line, best.branch, best.commit) == ("app/billing.py", 1, 2, "main", demo_repo.head)
    assert best.github_url is None  # served by git daemon, not GitHub
    html = response.content.decode()
    assert "<mark>compute_invoice_total</mark>" in html
    assert "app/billing.py" in html and "lines 1–2" in html and "score " in html


def test_chunk_text_is_escaped(owner_client, synced):
    response = search(owner_client, synced.project_sync.project, q="demo project")
    html = response.content.decode()
    assert "A small &lt;b&gt;<mark>demo</mark>&lt;/b&gt; <mark>project</mark>." in html
    assert "<b>demo</b>" not in html


def test_a_branch_can_be_chosen(owner_client, synced):
    project = synced.project_sync.project
    assert search(owner_client, project, q="invoice", branch="main").context["files"]
    response = search(owner_client, project, q="invoice", branch="no-such-branch")
    assert response.context["files"] is None and response.context["form"].errors["branch"]


def test_an_empty_query_shows_the_form_only(owner_client, synced):
    response = search(owner_client, synced.project_sync.project)
    assert response.status_code == 200 and response.context["files"] is None
    assert "then press Enter" in response.content.decode()
    response = search(owner_client, synced.project_sync.project, q="   ")
    assert response.context["files"] is None and response.context["form"].errors["q"]


def test_a_project_never_synced_says_so(owner_client, linked):
    response = search(owner_client, linked.project, q="anything")
    html = response.content.decode()
    assert response.context["files"] == [] and "no branch of this project has been synced" in html
    assert f'href="/projects/{linked.project.uuid}/"' in html  # the next step: sync a branch


def test_an_outsider_gets_404(outsider_client, synced):
    assert search(outsider_client, synced.project_sync.project, q="compute_invoice_total").status_code == 404


def test_a_missing_project_is_404(owner_client):
    assert owner_client.get(reverse("search", kwargs={"project": uuid.uuid4()}), {"q": "x"}).status_code == 404


def test_deleted_projects_are_not_searchable(owner_client, owner):
    from django.utils import timezone

    project = ProjectFactory(owner=owner, deleted_at=timezone.now())
    assert search(owner_client, project, q="x").status_code == 404


def test_github_links_point_at_the_file_at_that_commit():
    url = github_file_url("https://github.com/octo/hello.git", "abc123", "src/a b#c.py", 3, 9)
    assert url == "https://github.com/octo/hello/blob/abc123/src/a%20b%23c.py#L3-L9"
    assert github_file_url("git://127.0.0.1:9418/x.git", "abc123", "a.py", 1, 2) is None
    assert github_file_url("https://gitlab.com/octo/hello.git", "abc123", "a.py", 1, 2) is None


def test_highlighting_wraps_escaped_matches_only():
    import re

    terms = query_terms("<script> alert(1) droid")
    assert terms == ["script", "alert", "droid"]
    pattern = re.compile("|".join(map(re.escape, terms)), re.IGNORECASE)
    html = highlight('<script>alert("x")</script> & Android', pattern)
    assert html == (
        "&lt;<mark>script</mark>&gt;<mark>alert</mark>(&quot;x&quot;)&lt;/<mark>script</mark>&gt; &amp; An<mark>droid</mark>"
    )


def test_stop_words_are_not_highlighted():
    assert query_terms("refuse a migration that drops the embedding column") == ["refuse", "migration", "drops", "embedding", "column"]
    assert query_terms("the and that") == []


@pytest.fixture
def tested_repo(make_repo):
    helpers = "".join(
        f'def invoice_helper_{n}(lines):\n    """invoice helper {n}"""\n    return [line for line in lines if line > {n}]\n\n\n'
        for n in range(40)
    )
    repo = make_repo()
    repo.write("app/invoices.py", "def invoice_total(lines):\n    return sum(lines)\n\n\n" + helpers)
    repo.write("tests/test_invoices.py", "def test_invoice_total():\n    assert invoice_total([1, 2]) == 3\n")
    repo.write("web/invoice.spec.ts", "it('totals an invoice', () => expect(invoiceTotal([1, 2])).toBe(3));\n")
    repo.write("web/invoice.ts", "export function invoiceTotal(lines: number[]) { return lines.reduce((a, b) => a + b, 0); }\n")
    repo.commit()
    return repo


@pytest.fixture
def tested(owner, tested_repo, fast_model, git_cache):
    from syncs import services
    from syncs.models import SyncRun
    from syncs.pipeline import sync_run_execute

    sync = services.project_link(owner=owner, repository=tested_repo.url, branch="main")
    run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    assert sync_run_execute(run.pk).status == SyncRun.Status.SUCCEEDED
    return sync.project


def test_hits_are_grouped_by_file_best_chunk_first(owner_client, tested):
    response = search(owner_client, tested, q="invoice helper lines")
    files = response.context["files"]
    paths = [(file.branch, file.path) for file in files]
    assert len(paths) == len(set(paths))  # one entry per file
    invoices = next(file for file in files if file.path == "app/invoices.py")
    assert len(invoices.more) >= 1
    assert f"{len(invoices.more)} more in this file" in response.content.decode()


def test_tests_can_be_left_out(owner_client, tested):
    with_tests = {file.path for file in search(owner_client, tested, q="invoice total").context["files"]}
    assert {"tests/test_invoices.py", "web/invoice.spec.ts"} <= with_tests
    without = {file.path for file in search(owner_client, tested, q="invoice total", no_tests="on").context["files"]}
    assert "app/invoices.py" in without and not without & {"tests/test_invoices.py", "web/invoice.spec.ts"}


def test_path_and_language_filters(owner_client, tested):
    response = search(owner_client, tested, q="invoice total", path="web/**")
    assert {file.path for file in response.context["files"]} == {"web/invoice.ts", "web/invoice.spec.ts"}
    response = search(owner_client, tested, q="invoice total", language="typescript")
    assert {file.path for file in response.context["files"]} == {"web/invoice.ts", "web/invoice.spec.ts"}
    assert [value for value, _ in response.context["form"].fields["language"].choices] == ["", "python", "typescript"]
    response = search(owner_client, tested, q="invoice total", path="nowhere/*.rb")
    assert response.context["files"] == [] and "with these filters" in response.content.decode()
    response = search(owner_client, tested, q="invoice total", language="cobol")
    assert response.context["files"] is None and response.context["form"].errors["language"]


def test_branch_and_commit_link_to_github_when_the_repository_is_there():
    from embeddings.views import github_repository_url

    assert github_repository_url("https://github.com/octo/hello.git") == "https://github.com/octo/hello"
    assert github_repository_url("git://127.0.0.1:9418/x.git") is None
