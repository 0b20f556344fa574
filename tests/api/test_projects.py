"""Projects through the API: list (paginated, filtered, ordered), create by linking, read,
rename, soft delete and purge, webhook secret, live-progress stream URL."""

import logging

import pytest

from embeddings.models import Chunk, SourceFile, Vector
from projects.models import Project
from syncs.models import ProjectSync, SyncRun
from tests.api.test_access import assert_error
from tests.factories import (
    ChunkFactory,
    ProjectFactory,
    ProjectSyncFactory,
    SourceFileFactory,
    SyncRunFactory,
    VectorFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def test_it_lists_projects_with_pagination_filters_and_ordering(api, owner):
    for name in ["beta", "alpha", "gamma"]:
        ProjectFactory(owner=owner, name=name)
    Project.objects.filter(name="gamma").update(sync_status=Project.SyncStatus.FAILED)

    page = api.get("/api/v1/projects/?limit=2").json()
    assert page["count"] == 3 and [p["name"] for p in page["results"]] == ["alpha", "beta"]
    assert page["next"].endswith("/api/v1/projects/?limit=2&offset=2") and page["previous"] is None
    assert [p["name"] for p in api.get("/api/v1/projects/?limit=2&offset=2").json()["results"]] == ["gamma"]
    assert [p["name"] for p in api.get("/api/v1/projects/?ordering=-name").json()["results"]] == ["gamma", "beta", "alpha"]
    assert [p["name"] for p in api.get("/api/v1/projects/?search=AL").json()["results"]] == ["alpha"]
    assert [p["name"] for p in api.get("/api/v1/projects/?sync_status=failed").json()["results"]] == ["gamma"]


def test_it_creates_a_project_by_linking_a_repository_and_shows_the_secret_once(api, owner, github_api):
    github_api.add_repo("octo/Demo", branches={"main": "a" * 40})
    response = api.post("/api/v1/projects/", {"repository": "octo/Demo", "branch": "main"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    project = Project.objects.get(uuid=body["uuid"])
    assert (project.owner, project.name, project.repository) == (owner, "Demo", "octo/Demo")
    assert body["branches"] == ["main"] and body["webhook_secret_set"] is True
    assert body["webhook_secret"] == project.webhook_secret and len(body["webhook_secret"]) >= 40
    assert body["webhook_url"] == f"http://testserver/api/v1/webhooks/github/{project.uuid}/"
    assert body["events_url"] == f"http://testserver/events/projects/?project={project.uuid}"
    [sync] = project.syncs.all()
    assert (sync.repository_url, sync.branch, sync.auto_sync) == ("https://github.com/octo/Demo.git", "main", False)

    # Never again: not in the read, the list or the rename answers.
    for later in (
        api.get(f"/api/v1/projects/{project.uuid}/"),
        api.get("/api/v1/projects/"),
        api.patch(f"/api/v1/projects/{project.uuid}/", {"name": "renamed"}, format="json"),
    ):
        assert later.status_code == 200
        assert project.webhook_secret not in later.content.decode()
        assert "webhook_secret\"" not in later.content.decode()


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"repository": "file:///etc", "branch": "main"}, "file:// URLs are not allowed"),
        ({"repository": "octo/demo", "branch": "../x"}, "branch name must not contain '..' or '@{'"),
        ({"repository": "ext::sh -c id", "branch": "main"}, "repository must not contain whitespace or control characters"),
        ({"repository": "octo/demo", "branch": "main", "name": ""}, "name: This field may not be blank."),
        ({"repository": "octo/demo", "branch": "main\x00"}, "branch: Null characters are not allowed."),
    ],
)
def test_it_refuses_hostile_input_and_creates_nothing(api, payload, message):
    response = api.post("/api/v1/projects/", payload, format="json")

    assert_error(response, 400)
    assert response.json()["message"] == message
    assert not Project.objects.exists() and not ProjectSync.objects.exists()


def test_a_second_project_with_the_same_name_is_refused(api, project, github_api):
    github_api.add_repo("other/demo", branches={"main": "a" * 40})
    response = api.post("/api/v1/projects/", {"repository": "other/demo", "branch": "main"}, format="json")

    assert_error(response, 400)
    assert response.json()["message"] == "you already have a project named 'demo'"
    assert Project.objects.count() == 1 and not ProjectSync.objects.exists()


def test_it_reads_and_renames_a_project(api, project_sync):
    project = project_sync.project

    read = api.get(f"/api/v1/projects/{project.uuid}/").json()
    renamed = api.patch(f"/api/v1/projects/{project.uuid}/", {"name": "  new name "}, format="json")

    assert (read["name"], read["repository"], read["sync_status"], read["branches"]) == ("demo", "octo/demo", "idle", ["main"])
    assert read["webhook_secret_set"] is False
    assert renamed.status_code == 200 and renamed.json()["name"] == "new name"
    project.refresh_from_db()
    assert project.name == "new name"


def test_a_rename_to_a_taken_name_changes_nothing(api, owner, project):
    ProjectFactory(owner=owner, name="taken")

    response = api.patch(f"/api/v1/projects/{project.uuid}/", {"name": "taken"}, format="json")

    assert_error(response, 400)
    project.refresh_from_db()
    assert project.name == "demo"


def _snapshot(project_sync):
    file = SourceFileFactory(project_sync=project_sync)
    chunk = ChunkFactory(file=file)
    VectorFactory(content_hash=chunk.content_hash)
    ProjectSync.objects.filter(pk=project_sync.pk).update(live_generation=1, live_commit="a" * 40)


def test_delete_is_a_soft_delete_that_keeps_the_embeddings_and_stops_the_runs(api, project_sync, github_api):
    github_api.add_repo("octo/demo", branches={"main": "a" * 40})
    project = project_sync.project
    _snapshot(project_sync)
    waiting = SyncRunFactory(project_sync=project_sync)

    response = api.delete(f"/api/v1/projects/{project.uuid}/")

    assert response.status_code == 204
    project.refresh_from_db()
    waiting.refresh_from_db()
    assert project.deleted_at is not None and waiting.status == SyncRun.Status.CANCELLED
    assert (SourceFile.objects.count(), Chunk.objects.count(), Vector.objects.count()) == (1, 1, 1)
    assert api.get(f"/api/v1/projects/{project.uuid}/").status_code == 404
    assert api.get("/api/v1/projects/").json()["count"] == 0
    assert [p["uuid"] for p in api.get("/api/v1/deleted-projects/").json()["results"]] == [str(project.uuid)]
    # The name is free again.
    assert api.post("/api/v1/projects/", {"repository": "octo/demo", "branch": "main", "name": "demo"}, format="json").status_code == 201


def test_purge_removes_a_deleted_projects_data_for_good_but_not_shared_vectors(api, outsider_api, project_sync):
    project = project_sync.project
    _snapshot(project_sync)
    SyncRunFactory(project_sync=project_sync, status=SyncRun.Status.SUCCEEDED)
    other = ProjectSyncFactory()
    _snapshot(other)

    assert_error(api.delete(f"/api/v1/deleted-projects/{project.uuid}/"), 404)  # not deleted: not purgeable
    api.delete(f"/api/v1/projects/{project.uuid}/")
    assert_error(outsider_api.delete(f"/api/v1/deleted-projects/{project.uuid}/"), 404)

    response = api.delete(f"/api/v1/deleted-projects/{project.uuid}/")

    assert response.status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not ProjectSync.objects.filter(project_id=project.pk).exists()
    assert not SyncRun.objects.filter(project_sync_id=project_sync.pk).exists()
    assert list(SourceFile.objects.values_list("project_sync_id", flat=True)) == [other.pk]
    assert Chunk.objects.count() == 1 and Vector.objects.count() == 2
    assert api.get("/api/v1/deleted-projects/").json()["count"] == 0


def test_an_owner_who_is_a_member_purges_for_good(project_sync, outsider):
    # Their membership goes with the project: the row must still go (it did not, once).
    from projects.models import Membership
    from tests.api.conftest import client_for

    project = project_sync.project
    Membership.objects.create(project=project, user=outsider, role=Membership.Role.OWNER)
    member = client_for(outsider)
    assert member.delete(f"/api/v1/projects/{project.uuid}/").status_code == 204

    assert member.delete(f"/api/v1/deleted-projects/{project.uuid}/").status_code == 204

    assert not Project.objects.filter(pk=project.pk).exists() and not Membership.objects.filter(project_id=project.pk).exists()


def test_purge_waits_while_a_worker_holds_a_branch(api, project_sync):
    from django.db import connections

    project = project_sync.project
    api.delete(f"/api/v1/projects/{project.uuid}/")
    other = connections.create_connection("default")  # another session, as a worker's
    try:
        with other.cursor() as cursor:
            from nyxsync.locks import advisory_key

            cursor.execute("SELECT pg_advisory_lock(%s)", [advisory_key(project_sync.pk)])
            response = api.delete(f"/api/v1/deleted-projects/{project.uuid}/")
    finally:
        other.close()

    assert_error(response, 409, "conflict")
    assert Project.objects.filter(pk=project.pk).exists() and ProjectSync.objects.filter(pk=project_sync.pk).exists()


def test_a_new_webhook_secret_is_shown_once_and_never_logged(api, project, caplog):
    caplog.set_level(logging.DEBUG)

    response = api.post(f"/api/v1/projects/{project.uuid}/webhook-secret/")

    assert response.status_code == 201
    secret = response.json()["webhook_secret"]
    project.refresh_from_db()
    assert project.webhook_secret == secret
    assert response.json()["webhook_url"] == f"http://testserver/api/v1/webhooks/github/{project.uuid}/"
    assert api.get(f"/api/v1/projects/{project.uuid}/").json()["webhook_secret_set"] is True
    assert secret not in api.get(f"/api/v1/projects/{project.uuid}/").content.decode()
    assert secret not in caplog.text
    again = api.post(f"/api/v1/projects/{project.uuid}/webhook-secret/").json()["webhook_secret"]
    assert again != secret


def test_it_gives_the_projects_live_progress_stream(api, project):
    response = api.get(f"/api/v1/projects/{project.uuid}/events/")

    assert response.status_code == 200
    assert response.json() == {
        "channel": f"project-{project.uuid}",
        "url": f"http://testserver/events/projects/?project={project.uuid}",
    }


def test_the_stream_url_serves_the_projects_events_to_its_owner(api, client, owner, project, outsider):
    url = api.get(f"/api/v1/projects/{project.uuid}/events/").json()["url"].removeprefix("http://testserver")

    client.force_login(outsider)
    assert client.get(url).status_code == 403
    client.force_login(owner)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    response.close()
