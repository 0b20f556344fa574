"""Changing a branch's embedding model without downtime, and backfilling lost vectors."""

import io
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from embeddings.models import Vector
from embeddings.search import search
from nyxsync import tenancy
from syncs import services
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_owner")]


@pytest.fixture
def synced(make_repo, link, sync_now):
    repo = make_repo()
    for n in range(12):
        repo.write(f"pkg/module{n}.py", f"def handler_{n}(request):\n    return render(request, 'page{n}.html')\n")
    repo.commit()
    sync = link(repo)
    assert sync_now(sync).status == SyncRun.Status.SUCCEEDED
    return sync


def test_reembedding_swaps_models_once_while_search_keeps_answering(synced, owner):
    results, errors, stop = [], [], threading.Event()

    def read_continuously():
        try:
            with tenancy.acting_as(owner):  # a reader of the owner's, as their searches are
                while not stop.is_set():
                    synced.refresh_from_db()
                    hits = search(project_syncs=[synced], query="handler render request", k=5)
                    results.append({hit.model for hit in hits})
        except Exception as exc:  # every search must succeed
            errors.append(exc)
        finally:
            connections["default"].close()

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        run, created = services.project_sync_reembed(project_sync=synced, model_name="all-MiniLM-L6-v2", dispatch=False)
        run = sync_run_execute(run.pk)
    finally:
        stop.set()
        reader.join()

    assert errors == []
    assert created and run.trigger == SyncRun.Trigger.REEMBED and run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.chunks_embedded == Vector.objects.filter(model__name="all-MiniLM-L6-v2").count() > 0
    assert all(len(models) == 1 for models in results)  # one model per answer, never a mix
    models_seen = [next(iter(models)) for models in results]
    assert models_seen[0] == "hashing-256"
    synced.refresh_from_db()
    assert synced.embedding_model == "all-MiniLM-L6-v2"
    assert {hit.model for hit in search(project_syncs=[synced], query="handler", k=3)} == {"all-MiniLM-L6-v2"}
    # The old model's vectors are kept (a rollback re-embeds nothing).
    assert Vector.objects.filter(model__name="hashing-256").count() == run.chunks_embedded


def test_an_unknown_model_changes_nothing(synced):
    from nyxsync.errors import DomainError

    with pytest.raises(DomainError, match="unknown embedding model") as refused:
        services.project_sync_reembed(project_sync=synced, model_name="no-such-model")
    assert (refused.value.code, refused.value.http_status) == ("unknown_model", 400)
    assert not SyncRun.objects.filter(trigger=SyncRun.Trigger.REEMBED).exists()
    with pytest.raises(CommandError, match="unknown embedding model"), tenancy.dangerously_as_system():  # as manage.py
        call_command("reembed", all=True, model="no-such-model")


def test_a_failed_model_change_keeps_the_old_model_live(synced, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens: every attempt fails
    settings.OPENAI_API_KEY = "sk-test"
    settings.NYXSYNC_EMBEDDING_RETRY_ATTEMPTS = 1
    run, _ = services.project_sync_reembed(project_sync=synced, model_name="openai:text-embedding-3-small", dispatch=False)
    run = sync_run_execute(run.pk)
    assert run.status == SyncRun.Status.FAILED and run.error_phase == "embed"
    synced.refresh_from_db()
    assert synced.embedding_model == "hashing-256"
    assert {hit.model for hit in search(project_syncs=[synced], query="handler", k=3)} == {"hashing-256"}


def test_backfill_restores_vectors_lost_outside_the_app_and_is_idempotent(synced, tmp_path, owner_sql):
    # An operator's incident and repair: the commands act for the system, as manage.py makes them.
    with tenancy.dangerously_as_system():
        _lose_and_backfill(tmp_path, owner_sql)
    assert {hit.path for hit in search(project_syncs=[synced], query="handler_3", k=1)} == {"pkg/module3.py"}


def _lose_and_backfill(tmp_path, owner_sql):
    saved = tmp_path / "before.json"
    call_command("check_embeddings", save=saved)
    # The incident, by hand at a psql prompt: the vector column recreated, and rows lost.
    owner_sql("DELETE FROM embeddings_vector WHERE id IN (SELECT id FROM embeddings_vector ORDER BY id LIMIT 3)")
    owner_sql("ALTER TABLE embeddings_vector DROP COLUMN embedding")
    owner_sql("ALTER TABLE embeddings_vector ADD COLUMN embedding vector")
    with pytest.raises(CommandError, match="live chunks lost their vectors"):
        call_command("check_embeddings", against=saved)

    out = io.StringIO()
    call_command("backfill", dry_run=True, stdout=out)
    assert out.getvalue().strip() == "Missing vectors: hashing-256: 12."
    out = io.StringIO()
    call_command("backfill", stdout=out)
    assert out.getvalue().strip() == "Missing vectors: hashing-256: 12. Embedded 12."

    report = {(s.kind, s.model): s for s in __import__("embeddings.integrity", fromlist=["x"]).take_report()}
    assert report[("project", "hashing-256")].missing == 0 and report[("project", "hashing-256")].vectors == 12
    out = io.StringIO()
    call_command("backfill", stdout=out)
    assert out.getvalue().strip() == "Missing vectors: none. Embedded 0."
