import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from embeddings import integrity
from embeddings.models import Vector
from tests.factories import ChunkFactory, EmbeddingModelFactory, ProjectSyncFactory, SourceFileFactory, VectorFactory

pytestmark = pytest.mark.usefixtures("as_system")


@pytest.fixture
def synced_project(db):
    """A branch whose live snapshot (generation 1) has three chunks, each with its vector."""
    model = EmbeddingModelFactory()
    sync = ProjectSyncFactory(live_generation=1)
    file = SourceFileFactory(project_sync=sync, born_generation=1)
    chunks = ChunkFactory.create_batch(3, file=file)
    for chunk in chunks:
        VectorFactory(model=model, content_hash=chunk.content_hash, tenant=sync.project.owner)
    return sync


def scopes_by_kind(report, kind):
    return [scope for scope in report if scope.kind == kind]


def test_it_counts_vectors_per_model_and_per_project(synced_project):
    VectorFactory()  # a vector no live chunk uses: counted for the model, not the project
    report = integrity.take_report()
    [model] = [s for s in scopes_by_kind(report, "model") if s.model == "all-MiniLM-L6-v2-int8-r2"]
    [project] = scopes_by_kind(report, "project")
    assert (model.vectors, project.vectors, project.missing) == (4, 3, 0)
    assert project.label == f"project {synced_project.project.owner.username}/{synced_project.project.name}"


def test_a_project_report_reads_only_the_projects_asked_for(synced_project):
    other = ProjectSyncFactory(live_generation=1)
    ChunkFactory(file=SourceFileFactory(project_sync=other, born_generation=1))  # no vector: 1 missing
    whole = {scope.key: scope for scope in scopes_by_kind(integrity.take_report(), "project")}

    [mine] = integrity.project_report(projects=[synced_project.project])
    [theirs] = integrity.project_report(projects=[other.project])

    assert mine == whole[str(synced_project.project.uuid)] and (mine.vectors, mine.missing) == (3, 0)
    assert theirs == whole[str(other.project.uuid)] and (theirs.vectors, theirs.missing) == (0, 1)
    assert integrity.project_report(projects=[]) == []


def test_it_ignores_files_outside_the_live_snapshot(synced_project):
    staged = SourceFileFactory(project_sync=synced_project, born_generation=2)
    ChunkFactory(file=staged)  # staged by a run in progress: no vector yet, not live
    [project] = scopes_by_kind(integrity.take_report(), "project")
    assert (project.vectors, project.missing) == (3, 0)


def test_it_detects_a_lost_vector_against_a_saved_report(synced_project, tmp_path):
    saved = tmp_path / "before.json"
    call_command("check_embeddings", save=saved)
    Vector.objects.filter(pk=Vector.objects.order_by("pk").first().pk).delete()
    with pytest.raises(CommandError) as excinfo:
        call_command("check_embeddings", against=saved)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "3 -> 2 vectors" in message
    assert "1 live chunks lost their vectors" in message


def test_it_detects_a_changed_vector(synced_project):
    before = integrity.take_report()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE embeddings_vector SET embedding = embedding::vector(384) + embedding::vector(384) WHERE id = (SELECT min(id) FROM embeddings_vector)")
    problems = integrity.verify_against(before)
    assert problems == ["model all-MiniLM-L6-v2-int8-r2: checksum changed (3 vectors)"]


def test_it_accepts_new_vectors_after_a_saved_report(synced_project, tmp_path):
    saved = tmp_path / "before.json"
    call_command("check_embeddings", save=saved)
    VectorFactory.create_batch(2)
    call_command("check_embeddings", against=saved)  # new vectors are not a loss


@pytest.mark.django_db(transaction=True)
def test_it_covers_vector_columns_added_by_hand(synced_project, owner_sql):
    owner_sql("ALTER TABLE embeddings_chunk ADD COLUMN legacy_embedding vector(3)")
    owner_sql("UPDATE embeddings_chunk SET legacy_embedding = '[1,2,3]'")
    before = integrity.take_report()
    [column] = scopes_by_kind(before, "column")
    assert (column.key, column.vectors) == ("embeddings_chunk.legacy_embedding", 3)
    owner_sql("UPDATE embeddings_chunk SET legacy_embedding = NULL WHERE id = (SELECT min(id) FROM embeddings_chunk)")
    assert integrity.verify_against(before) == ["column embeddings_chunk.legacy_embedding: 3 -> 2 vectors"]


def test_it_refuses_a_file_that_is_not_a_report(db, tmp_path):
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CommandError, match="not a check_embeddings report"):
        call_command("check_embeddings", against=bogus)


def test_flush_refuses_a_database_that_holds_vectors(synced_project, settings):
    settings.NYXSYNC_ALLOW_FLUSH = False
    with pytest.raises(CommandError, match="refusing to flush"):
        call_command("flush", interactive=False)
    with pytest.raises(CommandError, match="refusing to print flush SQL"):
        call_command("sqlflush")
    assert Vector.objects.count() == 3
