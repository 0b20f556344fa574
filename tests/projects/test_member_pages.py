"""The project page for each role: owners manage members and the repository token there; the
Sync and Cancel buttons show for maintainers and owners; every POST checks the role again."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from projects.models import Membership, Project
from syncs.models import SyncRun
from tests.factories import SyncRunFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]
TOKEN = "ghp_pageTestToken0123456789abcdef"


def detail(project) -> str:
    return reverse("projects:detail", kwargs={"project": project.uuid})


def url(name: str, project, **kwargs) -> str:
    return reverse(f"projects:{name}", kwargs={"project": project.uuid, **kwargs})


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def roles(project) -> dict[str, str]:
    return dict(Membership.objects.filter(project=project).values_list("user__username", "role"))


@pytest.mark.parametrize(
    "role, sync_buttons, access_section",
    [("viewer", False, False), ("maintainer", True, False), ("owner", True, True)],
)
def test_each_role_sees_the_buttons_it_may_use(project, branch, member, login, role, sync_buttons, access_section):
    html = login(member(role)).get(detail(project)).content.decode()

    assert ("data-sync-button" in html) is sync_buttons and ("data-cancel-button" in html) is sync_buttons
    assert ('id="access"' in html) is access_section
    assert ("Add member" in html) is access_section and ('name="token"' in html) is access_section


def test_a_viewer_may_not_sync_or_cancel(project, branch, member, login):
    viewer = login(member("viewer"))
    run = SyncRunFactory(project_sync=branch, status=SyncRun.Status.RUNNING)

    assert viewer.post(reverse("branch_sync", kwargs={"sync": branch.uuid})).status_code == 403
    assert viewer.post(reverse("run_cancel", kwargs={"run": run.uuid})).status_code == 403

    run.refresh_from_db()
    assert SyncRun.objects.count() == 1 and run.cancel_requested_at is None


def test_a_maintainer_may(project, branch, member, login):
    maintainer = login(member("maintainer"))

    assert maintainer.post(reverse("branch_sync", kwargs={"sync": branch.uuid})).status_code == 302
    run = SyncRun.objects.get()
    assert maintainer.post(reverse("run_cancel", kwargs={"run": run.uuid})).status_code == 302
    run.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED


def test_an_owner_adds_changes_and_removes_members(project, owner, login):
    UserFactory(username="newcomer")
    client = login(owner)

    added = client.post(url("member_add", project), {"username": "newcomer", "role": "viewer"}, follow=True)
    assert added.redirect_chain == [(detail(project) + "#access", 302)]
    assert texts(added) == ["newcomer is now a viewer."] and roles(project) == {"newcomer": "viewer"}
    assert 'data-member="newcomer"' in added.content.decode()

    changed = client.post(url("member_change", project, username="newcomer"), {"role": "maintainer"}, follow=True)
    assert texts(changed) == ["newcomer is now a maintainer."] and roles(project) == {"newcomer": "maintainer"}

    removed = client.post(url("member_remove", project, username="newcomer"), follow=True)
    assert texts(removed) == ["newcomer no longer has access to demo."] and roles(project) == {}


def test_refusals_come_back_as_messages(project, owner, member, login):
    member("viewer")
    client = login(owner)

    cases = [
        (url("member_add", project), {"username": "a-viewer", "role": "owner"}, "a-viewer is a member already"),
        (url("member_add", project), {"username": "ghost", "role": "owner"}, "no active user named 'ghost'"),
        (url("member_add", project), {"username": "a-viewer", "role": "king"}, "Select a valid choice. king is not one of the available choices."),
        (url("member_change", project, username="owner"), {"role": "viewer"}, "owner created the project and stays its owner"),
        (url("member_remove", project, username="ghost"), {}, "ghost is not a member of this project"),
    ]
    for path, data, message in cases:
        assert texts(client.post(path, data, follow=True)) == [message]
    assert roles(project) == {"a-viewer": "viewer"}


@pytest.mark.parametrize("role", ["viewer", "maintainer"])
def test_only_owners_may_post_member_or_token_changes(project, member, login, outsider, role):
    client = login(member(role))
    UserFactory(username="newcomer")
    posts = [
        (url("member_add", project), {"username": "newcomer", "role": "owner"}),
        (url("member_change", project, username=f"a-{role}"), {"role": "owner"}),
        (url("member_remove", project, username=f"a-{role}"), {}),
        (url("github_token", project), {"token": TOKEN}),
    ]
    for path, data in posts:
        assert client.post(path, data).status_code == 403
        assert login(outsider).post(path, data).status_code == 404
        assert client.get(path).status_code == 405
    assert roles(project) == {f"a-{role}": role}
    assert Project.objects.get(pk=project.pk).github_token is None


def test_the_token_form_is_write_only(project, owner, login):
    client = login(owner)

    saved = client.post(url("github_token", project), {"token": TOKEN}, follow=True)

    assert texts(saved) == ["Repository token saved."]
    assert Project.objects.get(pk=project.pk).github_token == TOKEN
    html = saved.content.decode()
    assert "A token is set." in html and TOKEN not in html and 'name="remove"' in html
    removed = client.post(url("github_token", project), {"remove": "on"}, follow=True)
    assert texts(removed) == ["Repository token removed."] and Project.objects.get(pk=project.pk).github_token is None


def test_a_bad_or_empty_token_is_refused_without_being_echoed(project, owner, login):
    client = login(owner)

    bad = client.post(url("github_token", project), {"token": "s3cr3t with spaces"}, follow=True)
    empty = client.post(url("github_token", project), {"token": ""}, follow=True)

    assert texts(bad) == ["a token is 1 to 255 printable ASCII characters, without spaces"]
    assert "s3cr3t" not in bad.content.decode()
    assert texts(empty) == ["enter a token, or tick the box to remove it"]
    assert Project.objects.get(pk=project.pk).github_token is None
