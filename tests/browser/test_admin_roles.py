"""Staff in the admin, in Chromium, as their role in the project allows: a viewer reads a branch
and cannot remove it; a maintainer edits its schedule (never its repository) and removes it
through the confirmation page, whose "No" goes back and changes nothing. No page breaks the
Content-Security-Policy."""

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from projects.models import Membership
from syncs.models import ProjectSync, SyncRun
from tests.browser.support import login
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.factories import ProjectFactory, ProjectSyncFactory, SyncRunFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.usefixtures("as_system")]


def staff_page(new_page, project, role: str):
    user = UserFactory(username=f"staff-{role}", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["projects", "syncs"]))
    Membership.objects.create(project=project, user=user, role=role)
    page = new_page()
    page.context.add_init_script(RECORD_VIOLATIONS)
    login(page, user.username, "password", path="/admin/login/?next=/admin/")
    return page


def choose_action(page, branch, action: str) -> None:
    page.goto("/admin/syncs/projectsync/")
    page.check(f'input[name=_selected_action][value="{branch.pk}"]')
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_load_state()


def test_staff_act_on_a_branch_as_their_role_allows(new_page, celery_worker, owner):  # the server is healthy with a worker
    project = ProjectFactory(owner=owner, name="pee", repository="octo/pee")
    branch = ProjectSyncFactory(project=project, repository_url="https://github.com/octo/pee.git", branch="main")
    SyncRunFactory(project_sync=branch, status=SyncRun.Status.SUCCEEDED)

    viewer = staff_page(new_page, project, Membership.Role.VIEWER)
    viewer.goto(f"/admin/syncs/projectsync/{branch.pk}/change/")
    expect(viewer.locator(".field-repository_url .readonly")).to_have_text("https://github.com/octo/pee.git")
    expect(viewer.locator("input[name=_save]")).to_have_count(0)
    choose_action(viewer, branch, "remove")
    viewer.click("input[type=submit]")  # "Yes, I'm sure"
    expect(viewer.locator(".messagelist")).to_contain_text(f"You may not remove {branch}.")
    assert ProjectSync.objects.filter(pk=branch.pk).exists()

    maintainer = staff_page(new_page, project, Membership.Role.MAINTAINER)
    maintainer.goto(f"/admin/syncs/projectsync/{branch.pk}/change/")
    expect(maintainer.locator("input[name=repository_url]")).to_have_count(0)
    maintainer.check("input[name=auto_sync]")
    maintainer.fill("input[name=auto_sync_interval_minutes]", "45")
    maintainer.click("input[name=_save]")
    expect(maintainer.locator(".messagelist")).to_contain_text("was changed successfully")
    branch.refresh_from_db()
    assert (branch.auto_sync, branch.auto_sync_interval_minutes, branch.repository_url) == (
        True, 45, "https://github.com/octo/pee.git",
    )  # fmt: skip

    choose_action(maintainer, branch, "remove")
    expect(maintainer.locator("#content")).to_contain_text("Stop syncing these branches")
    maintainer.click("a.cancel-link")  # "No, take me back"
    maintainer.wait_for_url("**/admin/syncs/projectsync/")
    assert ProjectSync.objects.filter(pk=branch.pk).exists()
    choose_action(maintainer, branch, "remove")
    confirm_violations = maintainer.evaluate("window.cspViolations")
    maintainer.click("input[type=submit]")
    expect(maintainer.locator(".messagelist")).to_contain_text(f"Removed {branch}.")
    assert not ProjectSync.objects.filter(pk=branch.pk).exists() and not SyncRun.objects.exists()

    assert confirm_violations == [] and viewer.evaluate("window.cspViolations") == []
