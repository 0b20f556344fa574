"""The admin: live markup on run pages, the live-state endpoint, and the actions (which call the
services and report with message_user)."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django_eventstream import get_current_event_id

from syncs.events import OPERATORS_CHANNEL
from syncs.models import SyncRun
from tests.factories import MembershipFactory, ProjectFactory, ProjectSyncFactory, SyncRunFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def action(client, model: str, name: str, objects):
    url = reverse(f"admin:{model.replace('.', '_')}_changelist")
    return client.post(url, {"action": name, "_selected_action": [obj.pk for obj in objects]}, follow=True)


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def branch(owner):
    return ProjectSyncFactory(project=ProjectFactory(owner=owner, name="billing"))


def test_the_run_list_has_live_progress_filters_and_failures(admin_client, branch):
    running = SyncRunFactory(project_sync=branch, status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.EMBED, progress_done=2, progress_total=8)
    SyncRunFactory(
        project_sync=branch, status=SyncRun.Status.FAILED, phase=SyncRun.Phase.FETCH, error_phase=SyncRun.Phase.FETCH,
        error="could not reach <host>",
    )

    response = admin_client.get(reverse("admin:syncs_syncrun_changelist"))

    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-live-run="{running.uuid}"' in html and "Embed 25.0%" in html and "2 / 8" in html
    assert 'data-stream-url="/events/operators/"' in html
    assert f'data-event-id="{get_current_event_id([OPERATORS_CHANNEL])}"' in html
    assert "nyxsync/js/live.js" in html
    assert "Fetch</span>: <span data-field=\"error\">could not reach &lt;host&gt;" in html
    assert "By error phase" in html  # the list filter


def test_the_run_page_has_the_live_panel_and_the_failure(admin_client, branch):
    run = SyncRunFactory(project_sync=branch, status=SyncRun.Status.FAILED, error_phase=SyncRun.Phase.EMBED, error="model server said 500")
    response = admin_client.get(reverse("admin:syncs_syncrun_change", args=[run.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-live-run="{run.uuid}"' in html and "Failed during embed: model server said 500" in html
    assert 'id="live-initial"' in html
    assert 'name="_save"' not in html  # a run is a record: nothing to save


def test_the_live_state_endpoint_returns_the_runs_asked_for(admin_client, branch, owner):
    run = SyncRunFactory(project_sync=branch, status=SyncRun.Status.RUNNING)
    url = reverse("admin:syncs_syncrun_live_state")
    data = admin_client.get(url, {"run": [str(run.uuid), "junk"]}).json()
    assert data["event_id"] == "operators:0" and [event["run"] for event in data["runs"]] == [str(run.uuid)]
    user = Client()
    user.force_login(owner)  # not staff
    assert user.get(url).status_code == 302


def test_sync_now_queues_a_run_per_branch(admin_client, admin_user, branch):
    response = action(admin_client, "syncs.projectsync", "sync_now", [branch])
    run = SyncRun.objects.get()
    assert (run.trigger, run.requested_by) == (SyncRun.Trigger.ADMIN, admin_user)
    assert texts(response) == [f"Queued a sync of {branch}."]


def test_sync_now_on_a_project_syncs_every_branch(admin_client, branch):
    ProjectSyncFactory(project=branch.project, branch="dev")
    action(admin_client, "projects.project", "sync_now", [branch.project])
    assert SyncRun.objects.filter(trigger=SyncRun.Trigger.ADMIN).count() == 2


def test_reembed_queues_a_reembed_run(admin_client, branch):
    SyncRunFactory(project_sync=branch, status=SyncRun.Status.SUCCEEDED)
    response = action(admin_client, "syncs.syncrun", "reembed", SyncRun.objects.all())
    assert SyncRun.objects.filter(trigger=SyncRun.Trigger.REEMBED, status="queued").count() == 1
    assert texts(response) == [f"Queued a re-embed of {branch}."]


def test_cancel_reports_each_outcome(admin_client, branch, owner):
    queued = SyncRunFactory(project_sync=branch)
    other = ProjectSyncFactory(project=ProjectFactory(owner=owner), branch="dev")
    running = SyncRunFactory(project_sync=other, status=SyncRun.Status.RUNNING)
    done = SyncRunFactory(project_sync=ProjectSyncFactory(project=branch.project, branch="old"), status=SyncRun.Status.SUCCEEDED)

    response = action(admin_client, "syncs.syncrun", "cancel", [queued, running, done])

    queued.refresh_from_db(), running.refresh_from_db()
    assert queued.status == SyncRun.Status.CANCELLED and running.cancel_requested_at is not None
    assert sorted(texts(response)) == sorted([
        f"Cancelled the waiting sync of {branch}.",
        f"Cancel requested for {other}: each stops at its next checkpoint.",
        f"Already finished, nothing to cancel: {done.project_sync}.",
    ])


def test_cancel_on_branches_without_active_runs_says_so(admin_client, branch):
    response = action(admin_client, "syncs.projectsync", "cancel_active", [branch])
    assert texts(response) == ["No sync of these branches is queued or running."]


def test_check_integrity_shows_the_projects_scopes(admin_client, synced):
    project = synced.project_sync.project
    response = action(admin_client, "projects.project", "check_integrity", [project])
    [message] = texts(response)
    assert message.startswith(f"project owner/{project.name} (hashing-256): 3 vectors, 0 live chunks without a vector, checksum ")


def test_check_integrity_of_a_project_never_synced(admin_client, branch):
    response = action(admin_client, "syncs.projectsync", "check_integrity", [branch])
    assert texts(response) == [f"{branch.project}: no live snapshot yet, nothing to check."]


def test_actions_ask_the_permission_check(branch):
    # Staff with every model permission, but only a viewer of the project: the role decides.
    staff = UserFactory(username="staff-viewer", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["projects", "syncs"]))
    MembershipFactory(project=branch.project, user=staff, role="viewer")
    client = Client()
    client.force_login(staff)
    response = action(client, "syncs.projectsync", "sync_now", [branch])
    assert not SyncRun.objects.exists()
    assert texts(response) == [f"You may not sync {branch}."]


def test_an_enqueue_error_is_reported(admin_client, branch, monkeypatch):
    def refuse(**kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("syncs.admin.services.sync_run_enqueue", refuse)
    response = action(admin_client, "syncs.projectsync", "sync_now", [branch])
    assert texts(response) == [f"{branch}: could not queue a sync (ConnectionError: broker unreachable)"]


def test_the_project_page_in_the_admin_lists_its_branches(admin_client, branch):
    response = admin_client.get(reverse("admin:projects_project_change", args=[branch.project.pk]))
    assert response.status_code == 200 and branch.branch in response.content.decode()
