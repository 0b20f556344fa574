"""Sync and Cancel buttons (POST, CSRF, permissions) and a run's JSON state."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from syncs.models import SyncRun
from tests.factories import MembershipFactory, ProjectFactory, ProjectSyncFactory, SyncRunFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def branch(owner):
    return ProjectSyncFactory(project=ProjectFactory(owner=owner))


def sync_url(sync) -> str:
    return reverse("branch_sync", kwargs={"sync": sync.uuid})


def cancel_url(run) -> str:
    return reverse("run_cancel", kwargs={"run": run.uuid})


def test_sync_queues_a_run_and_answers_the_pages_script_with_it(owner_client, owner, branch):
    response = owner_client.post(sync_url(branch), **JSON)

    run = SyncRun.objects.get()
    assert (run.project_sync, run.trigger, run.requested_by, run.status) == (branch, "page", owner, "queued")
    assert response.status_code == 200
    assert response.json() == {"message": "Sync queued.", "run": response.json()["run"]}
    assert response.json()["run"]["run"] == str(run.uuid) and response.json()["run"]["status"] == "queued"


def test_a_second_sync_joins_the_waiting_one(owner_client, branch):
    owner_client.post(sync_url(branch), **JSON)
    response = owner_client.post(sync_url(branch), **JSON)
    assert SyncRun.objects.count() == 1
    assert "already waiting" in response.json()["message"]


def test_sync_without_the_script_redirects_to_the_project_page_with_a_message(owner_client, branch):
    response = owner_client.post(sync_url(branch), follow=True)
    assert response.redirect_chain == [(reverse("projects:detail", kwargs={"project": branch.project.uuid}), 302)]
    assert "Sync queued." in response.content.decode()


def test_sync_is_post_only(owner_client, branch):
    assert owner_client.get(sync_url(branch)).status_code == 405
    assert not SyncRun.objects.exists()


def test_an_outsider_cannot_sync_or_learn_that_the_branch_exists(outsider_client, branch):
    assert outsider_client.post(sync_url(branch), **JSON).status_code == 404
    assert outsider_client.post(sync_url(branch)).status_code == 404
    assert outsider_client.post(reverse("branch_sync", kwargs={"sync": uuid.uuid4()})).status_code == 404
    assert not SyncRun.objects.exists()


def test_sync_and_cancel_need_a_csrf_token(owner, branch):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(sync_url(branch), **JSON).status_code == 403
    run = SyncRunFactory(project_sync=branch)
    assert client.post(cancel_url(run), **JSON).status_code == 403
    run.refresh_from_db()
    assert run.status == SyncRun.Status.QUEUED
    assert SyncRun.objects.count() == 1


def test_sync_needs_the_sync_permission(branch):
    viewer = Client()  # sees the project, may not sync it
    viewer.force_login(MembershipFactory(project=branch.project, role="viewer").user)
    response = viewer.post(sync_url(branch), **JSON)
    assert response.status_code == 403 and not SyncRun.objects.exists()


def test_cancel_stops_a_waiting_run(owner_client, branch):
    run = SyncRunFactory(project_sync=branch)
    response = owner_client.post(cancel_url(run), **JSON)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED
    assert response.json()["run"]["status"] == "cancelled" and response.json()["message"] == "Sync cancelled."


def test_cancel_asks_a_running_run_to_stop(owner_client, branch):
    run = SyncRunFactory(project_sync=branch, status=SyncRun.Status.RUNNING)
    response = owner_client.post(cancel_url(run), **JSON)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING and run.cancel_requested_at is not None
    assert "Cancel requested" in response.json()["message"]


def test_cancel_of_a_finished_run_changes_nothing(owner_client, branch):
    run = SyncRunFactory(project_sync=branch, status=SyncRun.Status.SUCCEEDED)
    response = owner_client.post(cancel_url(run), follow=True)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and run.cancel_requested_at is None
    assert "already finished" in response.content.decode()


def test_an_outsider_cannot_cancel(outsider_client, branch):
    run = SyncRunFactory(project_sync=branch)
    assert outsider_client.post(cancel_url(run), **JSON).status_code == 404
    run.refresh_from_db()
    assert run.status == SyncRun.Status.QUEUED


def test_the_run_state_is_the_runs_event_and_the_stream_position(owner_client, outsider_client, branch):
    run = SyncRunFactory(project_sync=branch, status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.EMBED, progress_done=1, progress_total=4)
    url = reverse("run_state", kwargs={"run": run.uuid})

    data = owner_client.get(url).json()

    assert data["event_id"] == f"project-{branch.project.uuid}:0"
    [event] = data["runs"]
    assert (event["run"], event["status"], event["phase"], event["done"], event["total"], event["percent"]) == (
        str(run.uuid), "running", "embed", 1, 4, 25.0,
    )
    assert outsider_client.get(url).status_code == 404
    assert owner_client.get(reverse("run_state", kwargs={"run": uuid.uuid4()})).status_code == 404
