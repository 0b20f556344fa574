"""The project admin for superusers and for staff of each role: staff see the projects they may
see, actions and saves need the role (projects.permissions), members are managed through the
services (last owner stays), and secrets never show."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from projects.models import Membership, Project
from syncs.models import SyncRun
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]
TOKEN = "ghp_adminTestToken0123456789abcdef"
CHANGELIST = "admin:projects_project_changelist"


def change_url(project) -> str:
    return reverse("admin:projects_project_change", args=[project.pk])


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def action(client, name: str, projects):
    return client.post(reverse(CHANGELIST), {"action": name, "_selected_action": [p.pk for p in projects]}, follow=True)


def change_form(client, project, **changes) -> dict:
    """The change form's data as the page renders it (inlines too), with `changes` on top."""
    response = client.get(change_url(project))
    assert response.status_code == 200
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is not None and value is not False:
                data[form[name].html_name] = "on" if value is True else value
    return {**data, **changes, "_save": "Save"}


def roles(project) -> dict[str, str]:
    return dict(Membership.objects.filter(project=project).values_list("user__username", "role"))


def test_staff_see_only_the_projects_they_may_see(project, member, login, owner):
    theirs = ProjectFactory(owner=UserFactory(username="someone"), name="theirs")
    staff = login(member("viewer", staff=True))

    listed = staff.get(reverse(CHANGELIST))

    assert [p.name for p in listed.context["cl"].result_list] == ["demo"]
    assert staff.get(change_url(theirs)).status_code == 302  # the admin's "does not exist" redirect
    assert Project.objects.get(pk=theirs.pk).name == "theirs"


def test_a_superuser_sees_every_project(admin_client, project):
    ProjectFactory(owner=UserFactory(username="someone"), name="theirs")
    assert admin_client.get(reverse(CHANGELIST)).context["cl"].result_count == 2


@pytest.mark.parametrize("role, may_sync", [("viewer", False), ("maintainer", True), ("owner", True)])
def test_actions_need_the_role(project, branch, member, login, role, may_sync):
    response = action(login(member(role, staff=True)), "sync_now", [project])

    assert SyncRun.objects.exists() is may_sync
    assert texts(response) == ([f"Queued a sync of {branch}."] if may_sync else [f"You may not sync {branch}."])


@pytest.mark.parametrize("role", ["viewer", "maintainer"])
def test_only_owners_change_a_project(project, member, login, owner, role):
    staff = login(member(role, staff=True))

    page = staff.get(change_url(project))
    post = staff.post(change_url(project), {"owner": owner.pk, "name": "renamed", "repository": "x/y", "_save": "Save"})

    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()  # read-only
    assert 'name="new_github_token"' not in page.content.decode()
    assert post.status_code == 403 and Project.objects.get(pk=project.pk).name == "demo"


def test_an_owner_manages_members_through_the_inline(project, member, login):
    staff_owner = member("owner", staff=True)
    client = login(staff_owner)
    newcomer = UserFactory(username="newcomer")

    data = change_form(client, project)
    total = int(data["memberships-TOTAL_FORMS"])
    data.update({
        "memberships-TOTAL_FORMS": total + 1,
        f"memberships-{total}-user": newcomer.pk,
        f"memberships-{total}-role": "maintainer",
    })  # fmt: skip
    response = client.post(change_url(project), data, follow=True)

    assert response.status_code == 200 and roles(project) == {"staff-owner": "owner", "newcomer": "maintainer"}

    data = change_form(client, project)
    index = next(i for i in range(2) if data.get(f"memberships-{i}-user") == newcomer.pk)
    client.post(change_url(project), {**data, f"memberships-{index}-role": "viewer"}, follow=True)
    assert roles(project)["newcomer"] == "viewer"
    client.post(change_url(project), {**change_form(client, project), f"memberships-{index}-DELETE": "on"}, follow=True)
    assert roles(project) == {"staff-owner": "owner"}


def test_the_last_owner_rule_holds_in_the_admin(project, member, login, owner):
    owner.is_active = False  # the creator's account is closed
    owner.save()
    staff_owner = member("owner", staff=True)
    client = login(staff_owner)

    data = change_form(client, project)
    response = client.post(change_url(project), {**data, "memberships-0-DELETE": "on"}, follow=True)

    assert "staff-owner: staff-owner is the project's last owner" in texts(response)
    assert roles(project) == {"staff-owner": "owner"}


def test_staff_below_owner_cannot_add_members(project, member, login):
    staff = login(member("maintainer", staff=True))
    newcomer = UserFactory(username="newcomer")
    data = {
        "owner": project.owner_id, "name": "demo", "repository": "octo/demo", "_save": "Save",
        "memberships-TOTAL_FORMS": 1, "memberships-INITIAL_FORMS": 0, "memberships-0-user": newcomer.pk,
        "memberships-0-role": "owner", "syncs-TOTAL_FORMS": 0, "syncs-INITIAL_FORMS": 0,
    }  # fmt: skip

    assert staff.post(change_url(project), data).status_code == 403
    assert "newcomer" not in roles(project)


def test_the_token_is_write_only_in_the_admin(admin_client, project):
    response = admin_client.post(change_url(project), change_form(admin_client, project, new_github_token=TOKEN), follow=True)

    assert "Repository token saved." in texts(response)
    assert Project.objects.get(pk=project.pk).github_token == TOKEN
    for page in (admin_client.get(change_url(project)), admin_client.get(reverse(CHANGELIST)), response):
        html = page.content.decode()
        assert TOKEN not in html and "fernet:" not in html
    assert "set (never shown)" in admin_client.get(change_url(project)).content.decode()

    removed = admin_client.post(change_url(project), change_form(admin_client, project, remove_github_token="on"), follow=True)
    assert "Repository token removed." in texts(removed) and Project.objects.get(pk=project.pk).github_token is None


def test_a_bad_token_is_a_form_error_that_does_not_echo_it(admin_client, project):
    response = admin_client.post(change_url(project), change_form(admin_client, project, new_github_token="s3cr3t two words"))

    assert response.status_code == 200 and "a token is 1 to 255 printable ASCII characters" in response.content.decode()
    assert "s3cr3t" not in response.content.decode() and Project.objects.get(pk=project.pk).github_token is None
