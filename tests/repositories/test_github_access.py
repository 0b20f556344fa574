"""Link only what you may read (issue 11): GitHub decides, per user, through every door (page,
API, `manage.py sync`); the deployment's GITHUB_TOKEN never opens a private repository; a user's
GitHub connection (OAuth, `state` checked) links and fetches what that user may read; revoked
access fails the next fetch and leaves the live snapshot searchable; tokens go to their own host
only. GitHub is the stand-in (tests/github_standin.py), also serving git over HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from embeddings.search import search
from projects.models import Project
from repositories.connections import github_connection_of, github_connection_save
from repositories.tokens import repository_token
from syncs import services
from syncs.models import ProjectSync, SyncRun
from tests.api.conftest import client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]

DEPLOYMENT_TOKEN = "ghp_deployment_reads_everything"


@pytest.fixture
def github(github_api, settings, make_repo):
    """The stand-in as GitHub's web, git and API host, with corp/secret (private; alice and the
    deployment's token may read it) and corp/open (public), and GITHUB_TOKEN set."""
    settings.GITHUB_URL = github_api.url
    settings.GITHUB_TOKEN = DEPLOYMENT_TOKEN
    repos = {}
    for name, private in (("secret", True), ("open", False)):
        repo = make_repo()
        repo.write("app/billing.py", f"def compute_{name}_invoice_total(lines):\n    return sum(lines)\n").commit()
        repos[name] = repo
        github_api.add_repo(f"corp/{name}", bare=repo.bare, private=private, tokens={"gho_alice", DEPLOYMENT_TOKEN} if private else set())
    github_api.add_user("alice", token="gho_alice")
    github_api.add_user("bob", token="gho_bob")
    github_api.repos_built = repos
    return github_api


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "alice-password")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "bob-password")


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def deployment_token_sent_for(github, full_name: str) -> bool:
    return any(full_name in path and token == DEPLOYMENT_TOKEN for path, token in github.tokens_seen)


def test_a_user_without_access_cannot_link_a_private_repository_through_any_door(github, bob, fast_model):
    refusal = "GitHub has no repository corp/secret that you may read"

    response = client_for(bob).post("/api/v1/projects/", {"repository": "corp/secret", "branch": "main"}, format="json")
    assert response.status_code == 400 and response.json()["message"].startswith(refusal), response.content

    pages = page_client(bob)
    response = pages.get(reverse("projects:branches"), {"repository": "corp/secret"})
    assert response.status_code == 400 and response.json()["error"].startswith(refusal)
    response = pages.post(reverse("projects:link"), {"repository": "corp/secret", "branch": "main"})
    assert response.status_code == 200 and refusal in response.content.decode()

    with pytest.raises(CommandError, match=refusal):
        call_command("sync", "--repo", "corp/secret", "--branch", "main", "--owner", "bob", "--inline")

    assert not Project.objects.exists() and not ProjectSync.objects.exists()
    assert not deployment_token_sent_for(github, "corp/secret")  # asked anonymously: GitHub said "not found"

    # A public repository links through the same doors; the deployment token only raises rate limits.
    response = client_for(bob).post("/api/v1/projects/", {"repository": "corp/open", "branch": "main"}, format="json")
    assert response.status_code == 201, response.content
    assert Project.objects.get().repository == "corp/open"


def test_bob_connected_to_github_still_cannot_link_what_his_account_cannot_read(github, bob, fast_model):
    github_connection_save(user=bob, token="gho_bob")
    response = client_for(bob).post("/api/v1/projects/", {"repository": "corp/secret", "branch": "main"}, format="json")
    assert response.status_code == 400 and "corp/secret that you may read" in response.json()["message"]
    assert not Project.objects.exists()


def test_a_connected_user_links_syncs_and_searches_a_private_repository(github, alice, sync_now):
    github_connection_save(user=alice, token="gho_alice")
    sync = services.project_link(owner=alice, repository="corp/secret", branch="main")
    assert sync.repository_url == f"{github.url}/corp/secret.git"
    assert repository_token(project=sync.project, url=sync.repository_url) == "gho_alice"

    run = sync_now(sync)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    hits = search(project_syncs=[sync], query="compute_secret_invoice_total", k=3)
    assert hits and hits[0].path == "app/billing.py"
    assert not deployment_token_sent_for(github, "corp/secret")

    # Access withdrawn on GitHub: the next fetch fails in one clear line; the snapshot stays.
    github.revoke("gho_alice")
    github.repos_built["secret"].write("app/more.py", "MORE = 1\n").commit()
    failed = sync_now(sync)
    assert failed.status == SyncRun.Status.FAILED and failed.error_phase == SyncRun.Phase.FETCH
    assert failed.error.startswith("GitHub refused corp/secret to the token this project fetches with (access revoked?)"), failed.error
    assert "\n" not in failed.error and "gho_alice" not in failed.error
    assert search(project_syncs=[sync], query="compute_secret_invoice_total", k=3)[0].path == "app/billing.py"


def test_disconnecting_stops_using_the_token(github, alice, sync_now):
    github_connection_save(user=alice, token="gho_alice")
    sync = services.project_link(owner=alice, repository="corp/secret", branch="main")
    page_client(alice).post(reverse("github_disconnect"))
    assert github_connection_of(alice) is None
    assert repository_token(project=sync.project, url=sync.repository_url) is None
    run = sync_now(sync)
    assert run.status == SyncRun.Status.FAILED and "gho_alice" not in run.error
    assert run.error.startswith("GitHub has no public repository corp/secret: a private one needs"), run.error


def test_tokens_go_to_the_host_they_were_set_for_only(github, alice, fast_model):
    from projects.services import project_github_token_set

    github_connection_save(user=alice, token="gho_alice")
    sync = services.project_link(owner=alice, repository="corp/secret", branch="main")
    project_github_token_set(project=sync.project, token="ghp_project")
    assert repository_token(project=sync.project, url=sync.repository_url) == "ghp_project"
    # The branch's URL changed later (the admin could): neither token follows it there.
    elsewhere = "https://git.example.org/corp/secret.git"
    ProjectSync.objects.filter(pk=sync.pk).update(repository_url=elsewhere)
    sync.refresh_from_db()
    assert repository_token(project=sync.project, url=elsewhere) is None


def test_the_oauth_flow_connects_and_checks_state(github, alice):
    client = page_client(alice)
    response = client.get(reverse("github_connect"))
    assert response.status_code == 302
    authorize = urlsplit(response["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}" == github.url and authorize.path == "/login/oauth/authorize"
    state = parse_qs(authorize.query)["state"][0]

    # Signed in to GitHub as alice, she approves; GitHub sends her back with a code and the state.
    github.authorizing = "alice"
    approved = requests.get(response["Location"].replace("/login/oauth/authorize?", "/login/oauth/authorize/approve?"), allow_redirects=False, timeout=10)
    callback = urlsplit(approved.headers["Location"])
    assert parse_qs(callback.query)["state"] == [state]

    # A callback with another state (a forged link) is refused, and uses up the attempt.
    forged = client.get(callback.path, {"code": parse_qs(callback.query)["code"][0], "state": "forged"}, follow=True)
    assert "another connection attempt" in forged.content.decode() and github_connection_of(alice) is None

    response = client.get(reverse("github_connect"))
    approved = requests.get(response["Location"].replace("/login/oauth/authorize?", "/login/oauth/authorize/approve?"), allow_redirects=False, timeout=10)
    callback = urlsplit(approved.headers["Location"])
    done = client.get(f"{callback.path}?{callback.query}", follow=True)
    assert "Connected to GitHub as alice" in done.content.decode(), [str(m) for m in done.context["messages"]]
    connection = github_connection_of(alice)
    assert (connection.login, connection.host, connection.token) == ("alice", "127.0.0.1", "gho_alice")
    assert "gho_alice" not in client.get(reverse("account")).content.decode()  # never shown again


def test_the_picker_lists_what_the_connection_can_read(github, alice, bob):
    github_connection_save(user=alice, token="gho_alice")
    answer = page_client(alice).get(reverse("github_repositories")).json()
    assert [(repo["full_name"], repo["private"]) for repo in answer["repositories"]] == [("corp/secret", True)]
    assert page_client(alice).get(reverse("github_repositories"), {"q": "nothing"}).json()["total"] == 0
    assert page_client(bob).get(reverse("github_repositories")).status_code == 400  # not connected
