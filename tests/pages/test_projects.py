"""The projects list, the project page and their JSON state, for owner, outsider and anonymous."""

import uuid

import pytest
from django.urls import reverse
from django_eventstream import get_current_event_id

from syncs.events import project_channel
from syncs.models import SyncRun
from tests.factories import ProjectFactory, ProjectSyncFactory, SyncRunFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def detail_url(project) -> str:
    return reverse("projects:detail", kwargs={"project": project.uuid})


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("projects:list", {}),
        ("projects:link", {}),
        ("projects:list_state", {}),
        ("projects:branches", {}),
        ("projects:detail", {"project": uuid.uuid4()}),
        ("projects:state", {"project": uuid.uuid4()}),
        ("search", {"project": uuid.uuid4()}),
        ("run_state", {"run": uuid.uuid4()}),
    ],
)
def test_it_sends_anonymous_visitors_to_the_login_page(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_logs_in_and_out(client, owner):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b'name="password"' in page.content
    response = client.post(reverse("login"), {"username": "owner", "password": "owner-password"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    response = client.post(reverse("logout"))
    assert response.status_code == 200 and b"Logged out" in response.content
    assert client.get("/").status_code == 302


def test_the_list_shows_each_branch_with_status_live_commit_and_last_run(owner_client, owner, outsider):
    project = ProjectFactory(owner=owner, name="billing")
    main = ProjectSyncFactory(project=project, branch="main", live_commit="a" * 40, live_generation=1)
    ProjectSyncFactory(project=project, branch="dev")
    SyncRunFactory(project_sync=main, status=SyncRun.Status.SUCCEEDED, phase=SyncRun.Phase.DONE, trigger=SyncRun.Trigger.PAGE)
    running = SyncRunFactory(project_sync=main, status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.EMBED, progress_done=5, progress_total=20)
    ProjectFactory(owner=outsider, name="secret-project")

    response = owner_client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "billing" in html and "secret-project" not in html
    assert f'data-live-sync="{main.uuid}"' in html and f'data-run="{running.uuid}"' in html
    assert "aaaaaaaaaaaa" in html  # live commit, short
    assert "Running" in html and "Embed 25.0%" in html
    assert "Never synced" in html  # the dev branch
    assert f"project={project.uuid}" in html  # its stream and state URLs
    context = response.context
    assert context["event_id"] == get_current_event_id([project_channel(project.uuid)])
    assert [run["run"] for run in context["initial_runs"]] == [str(running.uuid)]


def test_the_list_state_shows_only_the_users_projects(owner_client, owner, outsider):
    mine = ProjectSyncFactory(project=ProjectFactory(owner=owner))
    theirs = ProjectSyncFactory(project=ProjectFactory(owner=outsider))
    run = SyncRunFactory(project_sync=mine)
    SyncRunFactory(project_sync=theirs)

    response = owner_client.get(reverse("projects:list_state"), {"project": [mine.project.uuid, theirs.project.uuid, "junk"]})

    assert response.status_code == 200
    data = response.json()
    assert [event["run"] for event in data["runs"]] == [str(run.uuid)]
    assert data["event_id"] == f"project-{mine.project.uuid}:0"


def test_the_project_page_shows_branches_progress_and_history_with_errors(owner_client, owner):
    sync = ProjectSyncFactory(project=ProjectFactory(owner=owner), branch="main")
    SyncRunFactory(
        project_sync=sync, status=SyncRun.Status.FAILED, phase=SyncRun.Phase.FETCH, error_phase=SyncRun.Phase.FETCH,
        error="branch main does not exist <script>alert(1)</script>",
    )
    running = SyncRunFactory(project_sync=sync, status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.CHUNK, progress_done=3, progress_total=4)

    response = owner_client.get(detail_url(sync.project))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'action="{reverse("branch_sync", kwargs={"sync": sync.uuid})}"' in html
    assert f'action="{reverse("run_cancel", kwargs={"run": running.uuid})}"' in html
    assert 'data-field="bar" max="100" value="75.0"' in html and "3 / 4" in html
    assert "Failed during fetch: branch main does not exist &lt;script&gt;" in html
    assert "<script>alert(1)" not in html
    assert response.context["event_id"] == get_current_event_id([project_channel(sync.project.uuid)])


def test_the_project_page_of_another_user_or_of_nobody_is_404(owner_client, outsider_client, owner):
    project = ProjectFactory(owner=owner)
    assert outsider_client.get(detail_url(project)).status_code == 404
    assert owner_client.get(reverse("projects:detail", kwargs={"project": uuid.uuid4()})).status_code == 404
    assert owner_client.get(f"/projects/{project.pk}/").status_code == 404  # ids are UUIDs, not keys


def test_a_deleted_project_is_404(owner_client, owner):
    from django.utils import timezone

    project = ProjectFactory(owner=owner, deleted_at=timezone.now())
    assert owner_client.get(detail_url(project)).status_code == 404


def test_the_project_state_is_the_current_run_of_each_branch(owner_client, outsider_client, owner):
    sync = ProjectSyncFactory(project=ProjectFactory(owner=owner))
    SyncRunFactory(project_sync=sync, status=SyncRun.Status.SUCCEEDED)
    running = SyncRunFactory(project_sync=sync, status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.EMBED)
    queued = SyncRunFactory(project_sync=sync, status=SyncRun.Status.QUEUED)  # newer, but waits behind the running one
    url = reverse("projects:state", kwargs={"project": sync.project.uuid})

    data = owner_client.get(url).json()

    assert [(event["run"], event["phase"]) for event in data["runs"]] == [(str(running.uuid), "embed")]
    assert str(queued.uuid) not in str(data)
    assert outsider_client.get(url).status_code == 404


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_pages_queries_do_not_grow_with_branches_and_runs(owner_client, owner):
    project = ProjectFactory(owner=owner)
    for branch in ("main", "dev"):
        SyncRunFactory(project_sync=ProjectSyncFactory(project=project, branch=branch), status=SyncRun.Status.SUCCEEDED)
    pages = ["/", detail_url(project), reverse("projects:state", kwargs={"project": project.uuid})]
    before = [_queries(owner_client, url) for url in pages]

    for branch in ("a", "b", "c", "d"):
        sync = ProjectSyncFactory(project=project, branch=branch)
        for _ in range(3):
            SyncRunFactory(project_sync=sync, status=SyncRun.Status.FAILED, error="x")
    SyncRunFactory(project_sync=sync, status=SyncRun.Status.RUNNING)

    assert [_queries(owner_client, url) for url in pages] == before
