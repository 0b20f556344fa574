"""Synced branches and runs through the API: add/remove a branch, auto-sync settings, trigger
(coalesced, throttled), list, read and cancel runs."""

import pytest

from embeddings.models import Chunk, SourceFile
from syncs.models import ProjectSync, SyncRun
from tests.api.conftest import client_for, runs_of
from tests.api.test_access import assert_error
from tests.factories import ChunkFactory, SourceFileFactory, SyncRunFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def url(project_sync, tail: str = "") -> str:
    return f"/api/v1/projects/{project_sync.project.uuid}/syncs/{project_sync.uuid}/{tail}"


def test_it_adds_lists_and_reads_branches(api, project_sync):
    project = project_sync.project

    added = api.post(
        f"/api/v1/projects/{project.uuid}/syncs/",
        {"branch": "release/2.0", "auto_sync": True, "auto_sync_interval_minutes": 15},
        format="json",
    )

    assert added.status_code == 201, added.content
    sync = ProjectSync.objects.get(uuid=added.json()["uuid"])
    assert (sync.branch, sync.repository_url, sync.auto_sync, sync.auto_sync_interval_minutes) == (
        "release/2.0", "https://github.com/octo/demo.git", True, 15,
    )  # fmt: skip
    listed = api.get(f"/api/v1/projects/{project.uuid}/syncs/").json()
    assert [s["branch"] for s in listed["results"]] == ["main", "release/2.0"]
    assert [s["branch"] for s in api.get(f"/api/v1/projects/{project.uuid}/syncs/?ordering=-branch").json()["results"]] == [
        "release/2.0", "main",
    ]  # fmt: skip
    assert api.get(url(sync)).json()["auto_sync_interval_minutes"] == 15


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"branch": "main"}, ""),  # already synced
        ({"branch": "-x"}, ""),
        ({"branch": "dev", "auto_sync": True}, ""),  # no interval
        ({"branch": "dev", "auto_sync": True, "auto_sync_interval_minutes": 0}, "auto_sync_interval_minutes"),
        ({"branch": "dev", "auto_sync_interval_minutes": "soon"}, "auto_sync_interval_minutes"),
    ],
)
def test_it_refuses_a_bad_branch_and_adds_nothing(api, project_sync, payload, field):
    response = api.post(f"/api/v1/projects/{project_sync.project.uuid}/syncs/", payload, format="json")

    assert_error(response, 400)
    assert list(response.json()["fields"]) == ([field] if field else [])
    assert ProjectSync.objects.count() == 1


def test_auto_sync_settings_turn_on_with_an_interval_and_make_the_branch_due(api, project_sync):
    ProjectSync.objects.filter(pk=project_sync.pk).update(next_check_at="2030-01-01T00:00Z")

    on = api.patch(url(project_sync), {"auto_sync": True, "auto_sync_interval_minutes": 5}, format="json")
    off = api.patch(url(project_sync), {"auto_sync": False}, format="json")
    bad = api.patch(url(project_sync), {"auto_sync": True, "auto_sync_interval_minutes": None}, format="json")

    assert on.status_code == 200 and (on.json()["auto_sync"], on.json()["next_check_at"]) == (True, None)
    assert off.status_code == 200 and (off.json()["auto_sync"], off.json()["auto_sync_interval_minutes"]) == (False, 5)
    assert_error(bad, 400)
    project_sync.refresh_from_db()
    assert (project_sync.auto_sync, project_sync.auto_sync_interval_minutes) == (False, 5)


def test_removing_a_branch_deletes_its_files_and_runs(api, project_sync):
    other = ProjectSync.objects.create(project=project_sync.project, repository_url=project_sync.repository_url, branch="dev")
    ChunkFactory(file=SourceFileFactory(project_sync=project_sync))
    ChunkFactory(file=SourceFileFactory(project_sync=other))
    SyncRunFactory(project_sync=project_sync, status=SyncRun.Status.SUCCEEDED)

    response = api.delete(url(project_sync))

    assert response.status_code == 204
    assert list(ProjectSync.objects.all()) == [other]
    assert list(SourceFile.objects.values_list("project_sync", flat=True)) == [other.pk]
    assert Chunk.objects.count() == 1 and not SyncRun.objects.exists()
    assert_error(api.get(url(project_sync)), 404)


def test_a_branch_of_another_project_is_404_under_this_one(api, owner, project_sync, foreign_sync):
    mine_other = ProjectSync.objects.create(
        project=type(project_sync.project).objects.create(owner=owner, name="second", repository="octo/second"),
        repository_url="https://github.com/octo/second.git",
        branch="main",
    )
    for sync in (foreign_sync, mine_other):
        path = f"/api/v1/projects/{project_sync.project.uuid}/syncs/{sync.uuid}/"
        assert_error(api.get(path), 404)
        assert_error(api.post(path + "runs/"), 404)
        assert_error(api.delete(path), 404)
    assert ProjectSync.objects.count() == 3 and not SyncRun.objects.exists()


def test_triggering_queues_one_run_and_coalesces_the_next_triggers(api, owner, project_sync):
    first = api.post(url(project_sync, "runs/"))
    second = api.post(url(project_sync, "runs/"))

    assert first.status_code == second.status_code == 202
    assert (first.json()["coalesced"], second.json()["coalesced"]) == (False, True)
    assert first.json()["uuid"] == second.json()["uuid"]
    [run] = runs_of(project_sync)
    assert (run.trigger, run.status, run.requested_by) == ("api", "queued", owner)
    assert first.json()["sync"] == str(project_sync.uuid) and first.json()["branch"] == "main"


def test_it_lists_filters_reads_and_cancels_runs(api, project_sync):
    done = SyncRunFactory(project_sync=project_sync, status=SyncRun.Status.SUCCEEDED, trigger=SyncRun.Trigger.WEBHOOK)
    waiting = SyncRunFactory(project_sync=project_sync)
    base = f"/api/v1/projects/{project_sync.project.uuid}/runs/"

    assert [r["uuid"] for r in api.get(base).json()["results"]] == [str(waiting.uuid), str(done.uuid)]
    assert [r["uuid"] for r in api.get(base + "?status=succeeded").json()["results"]] == [str(done.uuid)]
    assert [r["uuid"] for r in api.get(base + "?trigger=webhook&branch=main").json()["results"]] == [str(done.uuid)]
    assert [r["uuid"] for r in api.get(base + f"?sync={project_sync.uuid}&ordering=created_at").json()["results"]] == [
        str(done.uuid), str(waiting.uuid),
    ]  # fmt: skip
    assert api.get(base + "?branch=dev").json()["count"] == 0
    assert_error(api.get(base + "?sync=nope"), 400)
    assert api.get(f"{base}{done.uuid}/").json()["status"] == "succeeded"

    cancelled = api.post(f"{base}{waiting.uuid}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"{base}{waiting.uuid}/cancel/").status_code == 200  # idempotent
    assert_error(api.post(f"{base}{done.uuid}/cancel/"), 409, "conflict")
    done.refresh_from_db()
    assert done.status == SyncRun.Status.SUCCEEDED


def test_cancelling_a_running_run_asks_it_to_stop(api, project_sync):
    running = SyncRunFactory(project_sync=project_sync, status=SyncRun.Status.RUNNING)

    response = api.post(f"/api/v1/projects/{project_sync.project.uuid}/runs/{running.uuid}/cancel/")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cancel_requested"]) == ("running", True)


def test_triggers_are_throttled_per_user_with_retry_after(api, outsider, project_sync, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "sync_trigger": "2/minute", "search": "2/minute"}}

    statuses = [api.post(url(project_sync, "runs/")).status_code for _ in range(3)]
    throttled = api.post(url(project_sync, "runs/"))

    assert statuses == [202, 202, 429]
    assert_error(throttled, 429, "throttled")
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert len(runs_of(project_sync)) == 1
    # Another user has a budget of their own, and reads are not throttled.
    assert client_for(outsider).post("/api/v1/search/", {"query": "x"}, format="json").status_code == 200
    assert api.get(f"/api/v1/projects/{project_sync.project.uuid}/runs/").status_code == 200
    assert [api.post("/api/v1/search/", {"query": "x"}, format="json").status_code for _ in range(3)] == [200, 200, 429]
