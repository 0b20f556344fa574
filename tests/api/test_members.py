"""Members through the API, and what each role may do through it: the creator (owner), a member
owner, a maintainer, a viewer, an outsider, anonymous. Viewers search and watch; maintainers also
sync and change branches; owners also manage members, the repository token and the project."""

import logging

import pytest

from projects.models import Membership, Project
from syncs.models import ProjectSync, SyncRun
from tests.api.conftest import client_for
from tests.api.test_access import assert_error
from tests.factories import ProjectSyncFactory, SyncRunFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]
TOKEN = "ghp_membersTestToken0123456789"


@pytest.fixture
def people(project):
    """The creator (username "owner"), a member of each role ("a-<role>") and a newcomer, by
    persona: creator, viewer, maintainer, owner (a member), newcomer."""
    users = {"creator": project.owner}
    for role in Membership.Role.values:
        users[role] = UserFactory(username=f"a-{role}")
        Membership.objects.create(project=project, user=users[role], role=role)
    users["newcomer"] = UserFactory(username="newcomer")
    return users


def members_url(project, username: str | None = None) -> str:
    return f"/api/v1/projects/{project.uuid}/members/" + (f"{username}/" if username else "")


def roles(project) -> dict[str, str]:
    return dict(Membership.objects.filter(project=project).values_list("user__username", "role"))


def test_anyone_who_can_view_lists_the_creator_then_the_members(project, people):
    body = client_for(people["viewer"]).get(members_url(project)).json()

    assert body["count"] == 4
    assert [(m["username"], m["role"], m["creator"]) for m in body["results"]] == [
        ("owner", "owner", True),
        ("a-maintainer", "maintainer", False),
        ("a-owner", "owner", False),
        ("a-viewer", "viewer", False),
    ]
    assert all(m["added_at"] for m in body["results"])


def test_an_owner_adds_a_member_who_then_sees_the_project(project, people):
    response = client_for(people["creator"]).post(members_url(project), {"username": "newcomer", "role": "maintainer"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json() | {"added_at": None} == {"username": "newcomer", "role": "maintainer", "creator": False, "added_at": None}
    assert roles(project)["newcomer"] == "maintainer"
    assert client_for(people["newcomer"]).get(f"/api/v1/projects/{project.uuid}/").status_code == 200


def test_a_member_owner_manages_members_too(project, people):
    response = client_for(people["owner"]).post(members_url(project), {"username": "newcomer", "role": "viewer"}, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "payload, status, code, message",
    [
        ({"username": "a-viewer", "role": "viewer"}, 409, "conflict", "a-viewer is a member already"),
        ({"username": "owner", "role": "viewer"}, 409, "conflict", "owner created the project and is its owner already"),
        ({"username": "nobody", "role": "viewer"}, 400, "invalid", "no active user named 'nobody'"),
        ({"username": "newcomer", "role": "admin"}, 400, "invalid_choice", None),
        ({"username": "newcomer"}, 400, "required", None),
        ({"username": "newcomer", "role": "viewer", "admin": True}, 400, None, "admin: unknown field"),
        ({"username": 7, "role": "viewer"}, 400, None, "username: must be a string"),
    ],
)
def test_an_add_that_cannot_be_done_is_refused_and_changes_nothing(project, people, payload, status, code, message):
    before = roles(project)

    response = client_for(people["creator"]).post(members_url(project), payload, format="json")

    assert_error(response, status, code)
    if message:
        assert response.json()["message"] == message
    assert roles(project) == before


def test_an_inactive_user_cannot_be_added(project, people):
    people["newcomer"].is_active = False
    people["newcomer"].save()
    response = client_for(people["creator"]).post(members_url(project), {"username": "newcomer", "role": "viewer"}, format="json")
    assert_error(response, 400, "invalid")


def test_an_owner_changes_a_role_and_removes_a_member(project, people):
    api = client_for(people["creator"])

    changed = api.patch(members_url(project, "a-viewer"), {"role": "maintainer"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "maintainer"
    assert roles(project)["a-viewer"] == "maintainer"

    assert api.delete(members_url(project, "a-viewer")).status_code == 204
    assert "a-viewer" not in roles(project)
    assert_error(client_for(people["viewer"]).get(f"/api/v1/projects/{project.uuid}/"), 404, "not_found")


def test_changing_or_removing_someone_who_is_not_a_member_is_404(project, people):
    api = client_for(people["creator"])
    assert_error(api.patch(members_url(project, "newcomer"), {"role": "viewer"}, format="json"), 404, "not_found")
    assert_error(api.delete(members_url(project, "nobody")), 404, "not_found")


def test_the_creator_stays_an_owner(project, people):
    api = client_for(people["owner"])
    for response in (api.patch(members_url(project, "owner"), {"role": "viewer"}, format="json"), api.delete(members_url(project, "owner"))):
        assert_error(response, 409, "conflict")
        assert response.json()["message"] == "owner created the project and stays its owner"
    assert Project.objects.get(pk=project.pk).owner == people["creator"]


def test_the_last_owner_cannot_step_down_or_be_removed(project, people):
    # The creator's account is closed: the member owner is the only active owner left.
    people["creator"].is_active = False
    people["creator"].save()
    api = client_for(people["owner"])

    for response in (
        api.patch(members_url(project, "a-owner"), {"role": "maintainer"}, format="json"),
        api.delete(members_url(project, "a-owner")),
    ):
        assert_error(response, 409, "conflict")
        assert response.json()["message"] == "a-owner is the project's last owner"
    assert roles(project)["a-owner"] == "owner"

    # With a second owner, either may go.
    assert api.patch(members_url(project, "a-maintainer"), {"role": "owner"}, format="json").status_code == 200
    assert api.delete(members_url(project, "a-owner")).status_code == 204


@pytest.mark.parametrize("role", ["viewer", "maintainer"])
def test_viewers_and_maintainers_see_members_but_may_not_manage_them(project, people, role):
    api = client_for(people[role])
    before = roles(project)

    assert api.get(members_url(project)).status_code == 200
    for response in (
        api.post(members_url(project), {"username": "newcomer", "role": "owner"}, format="json"),
        api.patch(members_url(project, f"a-{role}"), {"role": "owner"}, format="json"),
        api.delete(members_url(project, "a-viewer")),
    ):
        assert_error(response, 403, "permission_denied")
    assert roles(project) == before


def test_an_outsider_gets_404_and_anonymous_callers_401(project, people, outsider_api, anon):
    for method, path in [("get", members_url(project)), ("post", members_url(project)), ("patch", members_url(project, "a-viewer")),
                         ("delete", members_url(project, "a-viewer"))]:  # fmt: skip
        assert_error(getattr(outsider_api, method)(path, {"username": "outsider", "role": "owner"}, format="json"), 404, "not_found")
        assert_error(getattr(anon, method)(path, {}, format="json"), 401, "not_authenticated")
    assert "outsider" not in roles(project)


# --- what each role may do through the rest of the API --------------------------------------


@pytest.fixture
def branch(project) -> ProjectSync:
    return ProjectSyncFactory(project=project, repository_url="https://github.com/octo/demo.git", branch="main")


def calls(project, branch, run):
    """(name, method, path, body, the least role that may) of the project's doors."""
    p, s, r = project.uuid, branch.uuid, run.uuid
    return [
        ("read project", "get", f"/api/v1/projects/{p}/", None, "viewer"),
        ("list branches", "get", f"/api/v1/projects/{p}/syncs/", None, "viewer"),
        ("list runs", "get", f"/api/v1/projects/{p}/runs/", None, "viewer"),
        ("read run", "get", f"/api/v1/projects/{p}/runs/{r}/", None, "viewer"),
        ("events", "get", f"/api/v1/projects/{p}/events/", None, "viewer"),
        ("search", "post", "/api/v1/search/", {"query": "invoice", "project": str(p)}, "viewer"),
        ("sync", "post", f"/api/v1/projects/{p}/syncs/{s}/runs/", {}, "maintainer"),
        ("cancel", "post", f"/api/v1/projects/{p}/runs/{r}/cancel/", {}, "maintainer"),
        ("schedule", "patch", f"/api/v1/projects/{p}/syncs/{s}/", {"auto_sync": False}, "maintainer"),
        ("add branch", "post", f"/api/v1/projects/{p}/syncs/", {"branch": "dev"}, "maintainer"),
        ("rename", "patch", f"/api/v1/projects/{p}/", {"name": "renamed"}, "owner"),
        ("set token", "patch", f"/api/v1/projects/{p}/", {"github_token": TOKEN}, "owner"),
        ("webhook secret", "post", f"/api/v1/projects/{p}/webhook-secret/", None, "owner"),
        ("delete", "delete", f"/api/v1/projects/{p}/", None, "owner"),
    ]


RANK = {"viewer": 1, "maintainer": 2, "owner": 3}


@pytest.mark.parametrize("role", ["viewer", "maintainer", "owner"])
def test_each_role_may_do_what_it_should_and_nothing_more(project, people, branch, role):
    api = client_for(people[role])
    run = SyncRunFactory(project_sync=branch, status=SyncRun.Status.RUNNING)
    for name, method, path, body, least in calls(project, branch, run):
        response = getattr(api, method)(path, body, format="json")
        if RANK[role] >= RANK[least]:
            assert response.status_code < 400 or response.status_code == 409, (role, name, response.content)
        else:
            assert_error(response, 403, "permission_denied")
    project.refresh_from_db()
    assert (project.deleted_at is not None) == (role == "owner")


# --- the repository token: write-only ------------------------------------------------------


def test_the_token_is_write_only(api, project, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"/api/v1/projects/{project.uuid}/"

    answers = [api.patch(url, {"github_token": TOKEN}, format="json")]
    answers += [api.get(url), api.get("/api/v1/projects/"), api.get(members_url(project))]

    assert all(answer.status_code == 200 for answer in answers)
    assert answers[0].json()["github_token_set"] is True and answers[1].json()["github_token_set"] is True
    assert all(TOKEN not in answer.content.decode() and '"github_token"' not in answer.content.decode() for answer in answers)
    assert Project.objects.get(pk=project.pk).github_token == TOKEN
    assert TOKEN not in caplog.text + "".join(str(vars(record)) for record in caplog.records)

    assert api.patch(url, {"github_token": None}, format="json").json()["github_token_set"] is False
    assert Project.objects.get(pk=project.pk).github_token is None


def test_a_project_may_be_created_with_its_token(api, owner, github_api):
    # The token is what lets the owner read the private repository: the link is checked with it.
    github_api.add_repo("octo/private", branches={"main": "a" * 40}, private=True, tokens={TOKEN})
    response = api.post("/api/v1/projects/", {"repository": "octo/private", "branch": "main", "github_token": TOKEN}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["github_token_set"] is True and TOKEN not in response.content.decode()
    assert Project.objects.get(uuid=response.json()["uuid"]).github_token == TOKEN


@pytest.mark.parametrize("token", ["s3cr3t space", "s3cr3t\nX-Evil: 1", "s3cr3t\ttab", "s3cr3t" + "x" * 250, "s3cr3t\u00e9"])
def test_a_token_git_could_not_send_is_refused_without_being_echoed(api, project, owner, token):
    response = api.patch(f"/api/v1/projects/{project.uuid}/", {"github_token": token, "name": "renamed"}, format="json")

    assert_error(response, 400)
    assert "s3cr3t" not in response.content.decode()
    project.refresh_from_db()
    assert (project.name, project.github_token) == ("demo", None)  # all or nothing
    create = api.post("/api/v1/projects/", {"repository": "octo/other", "branch": "main", "github_token": token}, format="json")
    assert_error(create, 400)
    assert not Project.objects.filter(name="other").exists()
