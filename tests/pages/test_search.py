"""The search page: results with path, lines, score, an escaped and highlighted snippet and a
GitHub link when the repository is on GitHub; outsiders get 404."""

import uuid

import pytest
from django.urls import reverse

from embeddings.views import github_file_url, highlight, query_terms
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def search(client, project, **params):
    return client.get(reverse("search", kwargs={"project": project.uuid}), params)


def test_it_finds_the_chunk_and_highlights_the_query(owner_client, synced, demo_repo):
    project = synced.project_sync.project
    response = search(owner_client, project, q="compute_invoice_total")

    assert response.status_code == 200
    best = response.context["results"][0]
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
    assert search(owner_client, project, q="invoice", branch="main").context["results"]
    response = search(owner_client, project, q="invoice", branch="no-such-branch")
    assert response.context["results"] is None and response.context["form"].errors["branch"]


def test_an_empty_query_shows_the_form_only(owner_client, synced):
    response = search(owner_client, synced.project_sync.project)
    assert response.status_code == 200 and response.context["results"] is None
    response = search(owner_client, synced.project_sync.project, q="   ")
    assert response.context["results"] is None and response.context["form"].errors["q"]


def test_a_project_never_synced_says_so(owner_client, linked):
    response = search(owner_client, linked.project, q="anything")
    assert response.context["results"] == [] and "sync a branch of this project first" in response.content.decode()


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

    terms = query_terms("<script> alert(1) AND")
    assert terms == ["script", "alert", "and"]
    pattern = re.compile("|".join(map(re.escape, terms)), re.IGNORECASE)
    html = highlight('<script>alert("x")</script> & Android', pattern)
    assert html == (
        "&lt;<mark>script</mark>&gt;<mark>alert</mark>(&quot;x&quot;)&lt;/<mark>script</mark>&gt; &amp; <mark>And</mark>roid"
    )
