"""Linking a repository: the branch picker's JSON, inline errors for bad input, nothing created on
error, CSRF enforced."""

import pytest
from django.test import Client
from django.urls import reverse

from projects.models import Project
from syncs.models import ProjectSync

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]

HOSTILE_REPOSITORIES = [
    "",
    "   ",
    "--upload-pack=touch /tmp/pwned",
    "ext::sh -c touch% /tmp/pwned",
    "file:///etc/passwd",
    "https://user:secret@github.com/octo/hello",
    "git://10.0.0.1/x.git",
    "https://169.254.169.254/latest/meta-data",
    "octo/hello\nrm -rf /",
    "<script>alert(1)</script>",
    "a" * 600,
    "octo/hello\x00",
]
HOSTILE_BRANCHES = ["", "-x", "--upload-pack=x", "a..b", "HEAD", "bad name", "x~1", "../../etc/passwd", "a" * 300, "main\n", "no-such-branch"]


def branches(client, repository):
    return client.get(reverse("projects:branches"), {"repository": repository})


def link(client, repository, branch="main", name=""):
    return client.post(reverse("projects:link"), {"repository": repository, "branch": branch, "name": name})


def nothing_created():
    return not Project.objects.exists() and not ProjectSync.objects.exists()


def test_the_picker_lists_the_branches_default_first(owner_client, demo_repo):
    response = branches(owner_client, demo_repo.url)
    assert response.status_code == 200
    assert response.json() == {"repository": demo_repo.url, "default": "main", "branches": ["main", "feature/x"]}


def test_the_picker_asks_github_for_github_repositories(owner_client, github_api):
    github_api.add_repo("octo/hello", branches={name: "0" * 40 for name in ("alpha", "trunk", "zeta")}, default_branch="trunk")
    response = branches(owner_client, "octo/hello")
    assert response.json() == {"repository": "octo/hello", "default": "trunk", "branches": ["trunk", "alpha", "zeta"]}


def test_the_picker_says_a_private_github_repository_needs_a_token(owner_client, github_api):
    response = branches(owner_client, "octo/private")
    assert response.status_code == 400
    assert response.json()["error"].startswith("GitHub has no repository octo/private that you may read: connect GitHub")


def test_the_picker_says_an_unknown_repository_is_unknown(owner_client, git_daemon):
    response = branches(owner_client, git_daemon.url("does-not-exist"))
    assert response.status_code == 400 and response.json()["error"]


@pytest.mark.parametrize("repository", HOSTILE_REPOSITORIES)
def test_the_picker_refuses_hostile_repositories(owner_client, repository):
    response = branches(owner_client, repository)
    assert response.status_code == 400 and response.json()["error"]


def test_the_form_shows_its_fields(owner_client):
    response = owner_client.get(reverse("projects:link"), {"repository": "octo/hello"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="repository"' in html and 'value="octo/hello"' in html and '<select name="branch"' in html
    assert "csrfmiddlewaretoken" in html


def test_linking_creates_the_project_and_its_branch(owner_client, owner, demo_repo):
    response = link(owner_client, demo_repo.url, branch="feature/x", name="demo")
    sync = ProjectSync.objects.get()
    assert (sync.project.owner, sync.project.name, sync.branch, sync.repository_url) == (owner, "demo", "feature/x", demo_repo.url)
    assert len(sync.project.webhook_secret) >= 40  # born with it, as through every door (syncs.services.project_link)
    assert response.status_code == 302 and response["Location"] == reverse("projects:detail", kwargs={"project": sync.project.uuid})


def test_without_a_branch_the_form_offers_the_repositorys_branches(owner_client, demo_repo):
    response = link(owner_client, demo_repo.url, branch="")
    html = response.content.decode()
    assert response.status_code == 200 and nothing_created()
    assert '<option value="main">main</option>' in html and '<option value="feature/x">feature/x</option>' in html
    assert "pick a branch" in html


@pytest.mark.parametrize("repository", HOSTILE_REPOSITORIES)
def test_a_hostile_repository_gets_an_inline_error_and_creates_nothing(owner_client, repository):
    response = link(owner_client, repository)
    assert response.status_code == 200
    [error] = response.context["form"].errors["repository"]
    assert f'id="repository-error" role="alert">{error_html(error)}' in response.content.decode()
    assert nothing_created()


@pytest.mark.parametrize("branch", HOSTILE_BRANCHES)
def test_a_hostile_branch_gets_an_inline_error_and_creates_nothing(owner_client, demo_repo, branch):
    response = link(owner_client, demo_repo.url, branch=branch)
    assert response.status_code == 200
    [error] = response.context["form"].errors["branch"]
    assert f'id="branch-error" role="alert">{error_html(error)}' in response.content.decode()
    assert nothing_created()


def test_an_unknown_repository_gets_an_inline_error(owner_client, git_daemon):
    response = link(owner_client, git_daemon.url("does-not-exist"))
    assert response.context["form"].errors["repository"] and nothing_created()


def test_a_private_github_repository_gets_an_inline_error(owner_client, github_api):
    response = link(owner_client, "octo/private")
    assert response.context["form"].errors["repository"][0].startswith("GitHub has no repository octo/private that you may read")
    assert nothing_created()


def test_a_name_taken_by_another_repository_is_an_inline_error(owner_client, owner, demo_repo, make_repo):
    link(owner_client, demo_repo.url, name="demo")
    other = make_repo()
    other.write("x.py", "x = 1\n").commit()

    response = link(owner_client, other.url, name="demo")

    assert "is linked to" in response.context["form"].errors["name"][0]
    assert ProjectSync.objects.count() == 1


def test_linking_needs_a_csrf_token(owner, demo_repo):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(reverse("projects:link"), {"repository": demo_repo.url, "branch": "main"})
    assert response.status_code == 403
    assert nothing_created()


def error_html(message: str) -> str:
    from django.utils.html import escape

    return escape(message)
