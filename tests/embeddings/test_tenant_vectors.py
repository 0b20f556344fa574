"""Vectors are shared within a tenant (an owner and its projects), never across tenants unless the
operator says so: what a run reports (chunks embedded and reused, the embed phase's total) must
not tell a tenant whether anyone else holds a text. Attacked through the real door: each user
links and syncs through the API with their own token and reads the run and its live events as
the API and the stream serve them."""

import json

import pytest
from django_eventstream.models import Event

from embeddings.models import Vector
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute
from tests.api.conftest import client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]

SECRET = 'AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\nDATABASE_PASSWORD = "correct horse battery staple"\n'
APP = "def handler(event):\n    return {'status': 200, 'body': event['body']}\n"


def tree(make_repo, files: dict[str, str]):
    repo = make_repo()
    for path, text in files.items():
        repo.write(path, text)
    repo.commit()
    return repo


def sync_through_the_api(user, repo) -> dict:
    """Link `repo` as `user` and sync it as a worker would; returns what the API then says of the
    run, with the totals its live events carried per phase."""
    api = client_for(user)
    created = api.post("/api/v1/projects/", {"repository": repo.url, "branch": "main"}, format="json")
    assert created.status_code == 201, created.content
    project = created.json()["uuid"]
    [sync] = api.get(f"/api/v1/projects/{project}/syncs/").json()["results"]
    triggered = api.post(f"/api/v1/projects/{project}/syncs/{sync['uuid']}/runs/")
    assert triggered.status_code == 202, triggered.content
    run_uuid = triggered.json()["uuid"]
    assert sync_run_execute(SyncRun.objects.get(uuid=run_uuid).pk).status == SyncRun.Status.SUCCEEDED
    run = api.get(f"/api/v1/projects/{project}/runs/{run_uuid}/").json()
    stored = Event.objects.filter(channel=f"project-{project}", type="run").order_by("id").values_list("data", flat=True)
    events = [json.loads(json.loads(data)) for data in stored]  # the storage keeps the JSON text the stream sends
    run["phase_totals"] = {event["phase"]: event["total"] for event in events if event["run"] == run_uuid}
    return run


COUNTERS = ("files_seen", "files_changed", "chunks_embedded", "chunks_reused", "chunks_deleted", "phase_totals")


def counters(run: dict) -> dict:
    return {name: run[name] for name in COUNTERS}


def test_a_tenant_s_counters_are_as_if_no_other_tenant_held_its_code(make_repo, git_cache, fast_model, django_user_model, settings):
    carol, alice, bob = (django_user_model.objects.create_user(name) for name in ("carol", "alice", "bob"))
    files = {"config/secrets.py": SECRET, "app.py": APP}
    # Carol syncs the tree first, when nobody else holds anything: what "alone" looks like.
    alone = sync_through_the_api(carol, tree(make_repo, files))
    assert alone["chunks_embedded"] == 2 and alone["phase_totals"]["embed"] == 2
    # Alice holds the secrets file too; then Bob syncs the same tree as Carol's.
    sync_through_the_api(alice, tree(make_repo, {"config/secrets.py": SECRET}))

    bobs = sync_through_the_api(bob, tree(make_repo, files))

    assert counters(bobs) == counters(alone)
    # Each tenant has a vector of its own for the secrets file: nothing was borrowed.
    secret_vectors = Vector.objects.filter(content_hash__in=Vector.objects.filter(tenant=bob).values("content_hash"))
    assert Vector.objects.filter(tenant=bob).count() == 2
    assert sorted(secret_vectors.values_list("tenant__username", flat=True)) == ["alice", "bob", "bob", "carol", "carol"]


def test_within_a_tenant_vectors_are_shared_and_across_tenants_only_when_the_operator_allows(
    make_repo, git_cache, fast_model, django_user_model, settings
):
    alice, bob, dave = (django_user_model.objects.create_user(name) for name in ("alice", "bob", "dave"))
    files = {"config/secrets.py": SECRET, "app.py": APP}
    first = sync_through_the_api(alice, tree(make_repo, files))
    assert (first["chunks_embedded"], first["chunks_reused"]) == (2, 0)

    # Alice's second project: her own vectors serve it.
    second = sync_through_the_api(alice, tree(make_repo, files))
    assert (second["chunks_embedded"], second["chunks_reused"], second["phase_totals"]["embed"]) == (0, 2, 0)
    # Bob, by default: embeds his own.
    assert sync_through_the_api(bob, tree(make_repo, files))["chunks_embedded"] == 2

    settings.NYXSYNC_SHARE_VECTORS_ACROSS_TENANTS = True
    shared = sync_through_the_api(dave, tree(make_repo, files))

    assert (shared["chunks_embedded"], shared["chunks_reused"]) == (0, 2)  # copied, not embedded
    assert Vector.objects.filter(tenant=dave).count() == 2
    hits = client_for(dave).post("/api/v1/search/", {"query": "database password"}, format="json").json()["results"]
    assert hits and hits[0]["path"] == "config/secrets.py"
