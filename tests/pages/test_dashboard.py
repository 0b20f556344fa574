"""A project's dashboard: the last runs (duration, chunks embedded and reused, failures) and each
branch's live index size, as tables the page's script draws; outsiders get 404."""

import uuid

import pytest
from django.urls import reverse

from embeddings.selectors import live_index_sizes
from syncs import services
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def dashboard(client, project):
    return client.get(reverse("projects:dashboard", kwargs={"project": project.uuid}))


def test_it_shows_each_run_and_the_live_index_size(owner_client, synced, demo_repo, git_daemon):
    sync = synced.project_sync
    demo_repo.write("app/more.py", "def more():\n    return 1\n").commit()
    run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    assert sync_run_execute(run.pk).status == SyncRun.Status.SUCCEEDED
    broken = services.project_link(owner=sync.project.owner, repository=git_daemon.url("gone"), branch="main", name="other")
    failed, _ = services.sync_run_enqueue(project_sync=broken, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    assert sync_run_execute(failed.pk).status == SyncRun.Status.FAILED

    response = dashboard(owner_client, sync.project)
    assert response.status_code == 200
    rows = response.context["runs"]
    assert [row["run"].pk for row in rows] == [synced.pk, run.pk]  # this project's runs, oldest first
    assert [row["number"] for row in rows] == [1, 2]
    assert all(row["duration"] is not None and row["duration"] >= 0 for row in rows)
    html = response.content.decode()
    assert f'data-run="{run.uuid}"' in html and 'data-embedded="1"' in html and 'data-reused="0"' in html

    sync.refresh_from_db()
    size = live_index_sizes(project_syncs=[sync])[sync.pk]
    assert (size.files, size.indexed_files, size.chunks, size.vectors) == (4, 4, 4, 4)
    assert 'data-field="chunks">4<' in html


def test_failures_are_marked(owner_client, owner, git_daemon, fast_model, git_cache):
    sync = services.project_link(owner=owner, repository=git_daemon.url("gone"), branch="main")
    run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    assert sync_run_execute(run.pk).status == SyncRun.Status.FAILED
    response = dashboard(owner_client, sync.project)
    html = response.content.decode()
    assert response.context["failures"] == 1
    assert "data-failed" in html and "1 failed" in html and "not synced yet" in html


def test_a_project_without_runs_says_what_to_do(owner_client, linked):
    html = dashboard(owner_client, linked.project).content.decode()
    assert "No runs yet. Press Sync on the" in html and "data-chart-source" not in html


def test_an_outsider_gets_404(outsider_client, synced):
    assert dashboard(outsider_client, synced.project_sync.project).status_code == 404


def test_a_missing_project_is_404(owner_client):
    assert owner_client.get(reverse("projects:dashboard", kwargs={"project": uuid.uuid4()})).status_code == 404


def test_the_chart_library_is_served_from_our_static_files_with_its_licence(owner_client, linked):
    from django.contrib.staticfiles import finders

    for name in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE"):
        assert finders.find(f"nyxsync/vendor/uplot/{name}"), f"{name} missing: `make install` copies it from npm"
    assert "MIT" in open(finders.find("nyxsync/vendor/uplot/LICENSE")).read()
    html = dashboard(owner_client, linked.project).content.decode()
    assert 'src="/static/nyxsync/vendor/uplot/uPlot.iife.min.js"' in html and "//cdn" not in html
