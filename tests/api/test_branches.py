"""The branches of a project's repository: through the GitHub REST API (the local stand-in,
tests/github_standin.py, with git data from a real local repository) for GitHub repositories,
and `git ls-remote` against the local git server for others."""

import pytest
from github import Auth, Github

from tests.api.test_access import assert_error
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def test_the_standin_serves_what_pygithub_needs(github_api, make_repo):
    repo = make_repo()
    main = repo.write("a.txt", "a").commit()
    dev = repo.checkout("dev").write("b.txt", "b").commit()
    github_api.add_repo("octo/demo", bare=repo.bare)

    client = Github(base_url=github_api.url, per_page=1, retry=None)
    remote = client.get_repo("octo/demo")

    assert (remote.full_name, remote.default_branch, remote.private) == ("octo/demo", "main", False)
    assert [(b.name, b.commit.sha) for b in remote.get_branches()] == [("dev", dev), ("main", main)]
    assert sum("/branches?" in path for _, path, _ in github_api.requests) == 2  # one per page, via Link


def test_it_lists_a_github_repositorys_branches_default_first(api, owner, github_api, make_repo):
    repo = make_repo()
    repo.write("a.txt", "a").commit()
    for name in ["release/1.0", "dev"]:
        repo.checkout(name).commit(name)
    github_api.add_repo("octo/demo", bare=repo.bare)
    project = ProjectFactory(owner=owner, repository="octo/demo")
    project.syncs.create(repository_url="https://github.com/octo/demo.git", branch="dev")

    response = api.get(f"/api/v1/projects/{project.uuid}/branches/")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "repository": "octo/demo",
        "default_branch": "main",
        "branches": [
            {"name": "main", "synced": False},
            {"name": "dev", "synced": True},
            {"name": "release/1.0", "synced": False},
        ],
    }
    assert all(not authorized for _, _, authorized in github_api.requests)  # no token configured


def test_a_private_or_unknown_github_repository_is_a_clear_400(api, owner, github_api):
    github_api.add_repo("octo/secret", branches={"main": "a" * 40}, private=True, tokens={"ghp_reader"})
    project = ProjectFactory(owner=owner, repository="octo/secret")

    response = api.get(f"/api/v1/projects/{project.uuid}/branches/")

    assert_error(response, 400)
    assert response.json()["message"].startswith("GitHub has no repository octo/secret that you may read")


def test_a_token_that_may_read_the_private_repository_lists_its_branches(github_api):
    github_api.add_repo("octo/secret", branches={"main": "a" * 40, "x": "b" * 40}, private=True, tokens={"ghp_reader"})

    anonymous = Github(base_url=github_api.url, retry=None)
    reader = Github(base_url=github_api.url, auth=Auth.Token("ghp_reader"), retry=None)

    with pytest.raises(Exception, match="404"):
        anonymous.get_repo("octo/secret")
    assert [b.name for b in reader.get_repo("octo/secret").get_branches()] == ["main", "x"]


def test_it_lists_the_branches_of_a_plain_git_repository_with_ls_remote(api, owner, make_repo):
    repo = make_repo()
    repo.write("a.txt", "a").commit()
    repo.checkout("feature").commit("f")
    project = ProjectFactory(owner=owner, repository=repo.url)

    response = api.get(f"/api/v1/projects/{project.uuid}/branches/")

    assert response.status_code == 200, response.content
    assert [b["name"] for b in response.json()["branches"]] == ["main", "feature"]
    assert response.json()["default_branch"] == "main"
