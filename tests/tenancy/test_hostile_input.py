"""Hostile repository addresses and branch names, through the doors users have: each refused
with a one-line message, nothing created."""

import pytest
from django.test import Client

from projects.models import Project
from syncs.models import ProjectSync, SyncRun
from tests.api.conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]

HOSTILE_REPOSITORIES = [
    "file:///etc/passwd",
    "file://localhost/srv/repo.git",
    "ext::sh -c touch% /tmp/pwned",
    "ext::ssh -oProxyCommand=x host",
    "--upload-pack=touch /tmp/pwned",
    "-oProxyCommand=touch /tmp/pwned",
    "ssh://git@github.com/octo/demo.git",
    "git@github.com:octo/demo.git",
    "https://user:secret@github.com/octo/demo.git",
    "https://token@github.com/octo/demo.git",
    "http://example.com/octo/demo.git",
    "git://example.com/octo/demo.git",
    "https://10.0.0.8/octo/demo.git",
    "https://192.168.1.1/octo/demo.git",
    "https://169.254.169.254/latest/meta-data",
    "https://[::ffff:10.0.0.1]/x.git",
    "ftp://example.com/octo/demo.git",
    "javascript:alert(1)",
    "https://github.com/../../etc/passwd",
    "octo/demo; rm -rf /",
    "octo/demo\nHost: evil",
    "https://exa mple.com/x.git",
    "x" * 600,
    "",
]
HOSTILE_BRANCHES = [
    "--help", "-x", "../x", "a..b", "a b", "a~1", "a^2", "a:b", "a?", "a*", "a[0", "a\\b", "x.lock", "/abs", "trail/",
    "a//b", "@", "a@{1}", ".hidden", "a/.b", "tab\tname", "del\x7f", "x" * 300, "",
]
CASES = [(repository, "main") for repository in HOSTILE_REPOSITORIES] + [("octo/demo", branch) for branch in HOSTILE_BRANCHES]


def nothing_created() -> bool:
    return not Project.objects.exists() and not ProjectSync.objects.exists() and not SyncRun.objects.exists()


def test_there_are_enough_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize(("repository", "branch"), CASES)
def test_the_api_refuses_it_with_a_message_and_creates_nothing(owner, repository, branch):
    response = client_for(owner).post("/api/v1/projects/", {"repository": repository, "branch": branch}, format="json")
    assert response.status_code == 400, (repository, branch, response.content)
    message = response.json()["message"]
    assert message and "\n" not in message and "secret" not in message
    assert nothing_created()


@pytest.mark.parametrize(("repository", "branch"), CASES[::4])
def test_the_link_page_refuses_it_inline_and_creates_nothing(owner, repository, branch):
    browser = Client()
    browser.force_login(owner)
    response = browser.post("/projects/link/", {"repository": repository, "branch": branch})
    assert response.status_code in (200, 400)
    # The form says what is wrong (the page's own markup holds the word "error" either way).
    assert response.context["form"].errors, response.content[:300]
    assert nothing_created()
