"""The guard's judgement of operations and SQL (the end-to-end `migrate` refusals are in
test_migrate_guard.py)."""

import pytest
from django.db import migrations, models
from django.db.migrations.loader import MigrationLoader
from pgvector.django import VectorField

from embeddings import guard

PROTECTED = {"embeddings_vector", "embeddings_chunk", "embeddings_sourcefile", "project_syncs"}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("ALTER TABLE embeddings_vector DROP COLUMN embedding", ["drop column embeddings_vector.embedding"]),
        ('ALTER TABLE "embeddings_vector" DROP COLUMN IF EXISTS "embedding" CASCADE', ["drop column embeddings_vector.embedding"]),
        ("ALTER TABLE embeddings_vector ALTER COLUMN embedding TYPE vector(768)", ["change the type of column embeddings_vector.embedding"]),
        ("DROP TABLE public.project_syncs", ["drop table project_syncs"]),
        ("DROP TABLE IF EXISTS other, embeddings_chunk CASCADE", ["drop table embeddings_chunk"]),
        ("TRUNCATE embeddings_chunk, embeddings_sourcefile", ["truncate embeddings_chunk", "truncate embeddings_sourcefile"]),
        ("DELETE FROM embeddings_vector WHERE model_id = 2", ["delete from embeddings_vector"]),
        ("UPDATE embeddings_vector SET embedding = NULL", ["update rows of embeddings_vector"]),
        ("ALTER TABLE embeddings_chunk RENAME TO chunks_old", ["rename table embeddings_chunk away"]),
        ("ALTER TABLE embeddings_chunk RENAME COLUMN text TO body", ["rename column embeddings_chunk.text away"]),
        ("DROP EXTENSION vector CASCADE", ["drop extension vector (and every vector column with it)"]),
        ("DROP SCHEMA public CASCADE", ["drop schema public"]),
        ("CREATE INDEX ix ON embeddings_chunk (text); SELECT 1; DELETE FROM project_syncs", ["delete from project_syncs"]),
        ("DO $$ BEGIN EXECUTE 'TRUNCATE embeddings_vector'; END $$", ["run a procedural block that touches embeddings_vector"]),
        ("DROP TABLE embeddings_vectorx; ALTER TABLE projects_project DROP COLUMN name", []),
        ("CREATE INDEX CONCURRENTLY ix ON embeddings_chunk (path)", []),
        ("SELECT count(*) FROM embeddings_vector", []),
        ("THIS IS NOT SQL embeddings_vector", ["run SQL that cannot be parsed and names embeddings_vector"]),
    ],
)
def test_it_reads_sql_as_postgres_does(sql, expected):
    assert guard.sql_hazards(sql, PROTECTED) == expected


def test_it_flags_a_plain_index_build_only_on_a_large_table():
    sql = "CREATE INDEX ix ON embeddings_chunk (content_hash)"
    assert guard.sql_hazards(sql, PROTECTED) == []
    assert guard.sql_hazards(sql, PROTECTED, {"embeddings_chunk": 50_000}) == [
        "build index ix without CONCURRENTLY on embeddings_chunk (~50,000 rows)"
    ]


@pytest.fixture(scope="module")
def state():
    """The project state after every migration on disk."""
    return MigrationLoader(None, ignore_no_migrations=True).project_state()


def migration(app_label, *operations):
    cls = type("Migration", (migrations.Migration,), {"operations": list(operations)})
    return cls("9999_test", app_label)


@pytest.mark.parametrize(
    ("app_label", "operation", "expected"),
    [
        ("embeddings", migrations.RemoveField("vector", "embedding"), "drop column embeddings_vector.embedding"),
        ("embeddings", migrations.RemoveField("chunk", "file"), "drop column embeddings_chunk.file_id"),
        ("embeddings", migrations.DeleteModel("Chunk"), "drop table embeddings_chunk"),
        ("embeddings", migrations.AlterField("vector", "embedding", VectorField(dimensions=768)), "change the type of column embeddings_vector.embedding"),
        ("embeddings", migrations.AlterField("chunk", "text", models.BinaryField()), "change the type of column embeddings_chunk.text"),
        ("embeddings", migrations.RenameField("chunk", "text", "body"), "rename column embeddings_chunk.text away"),
        ("embeddings", migrations.RenameModel("Chunk", "Piece"), "rename table embeddings_chunk away"),
        ("syncs", migrations.AlterModelTable("projectsync", "branches"), "rename table project_syncs away"),
        ("syncs", migrations.RemoveField("projectsync", "live_commit"), "drop column project_syncs.live_commit"),
    ],
)
def test_it_flags_destructive_model_operations(state, app_label, operation, expected):
    hazards = guard.migration_hazards(migration(app_label, operation), state)
    assert [hazard.action for hazard in hazards] == [expected]
    assert hazards[0].migration == f"{app_label}.9999_test"


@pytest.mark.parametrize(
    ("app_label", "operation"),
    [
        ("embeddings", migrations.AddField("chunk", "token_count", models.IntegerField(null=True))),
        ("embeddings", migrations.AlterField("chunk", "text", models.TextField(blank=True))),
        ("syncs", migrations.AlterField("projectsync", "branch", models.CharField(max_length=300))),
        ("projects", migrations.RemoveField("project", "deleted_at")),
        ("embeddings", migrations.RunPython(migrations.RunPython.noop)),
    ],
)
def test_it_lets_safe_operations_through(state, app_label, operation):
    assert guard.migration_hazards(migration(app_label, operation), state) == []


def test_it_flags_unapplying_what_created_protected_data(state):
    add = migration("embeddings", migrations.AddField("chunk", "token_count", models.IntegerField(null=True)))
    before_add = state.clone()
    assert guard.migration_hazards(add, before_add, backwards=False) == []
    after_add = state.clone()
    add.operations[0].state_forwards("embeddings", after_add)
    [hazard] = guard.migration_hazards(add, state, backwards=True)
    assert hazard.action == "drop column embeddings_chunk.token_count (unapplying its AddField)"


def test_it_reads_runsql_in_migrations(state):
    drop = migration("projects", migrations.RunSQL("ALTER TABLE embeddings_vector DROP COLUMN embedding", migrations.RunSQL.noop))
    assert [h.action for h in guard.migration_hazards(drop, state)] == ["drop column embeddings_vector.embedding"]
    assert guard.migration_hazards(drop, state, backwards=True) == []


def test_a_marked_migration_is_allowed():
    marked = migration("embeddings", migrations.RemoveField("vector", "embedding"))
    assert not guard.is_allowed(marked)
    marked.nyxsync_allow_destructive = "moving vectors to a new table, reviewed in #42"
    assert guard.is_allowed(marked)


def test_the_message_is_one_line_naming_the_migration_and_the_way_out(state):
    [hazard] = guard.migration_hazards(migration("embeddings", migrations.DeleteModel("Vector")), state)
    message = hazard.message()
    assert "\n" not in message
    assert "embeddings.9999_test would drop table embeddings_vector" in message
    assert "--allow-destructive embeddings.9999_test" in message
    assert "nyxsync_allow_destructive" in message


def test_the_migrations_on_disk_pass_the_check():
    from embeddings.checks import check_destructive_migrations, check_models_match_migrations

    assert check_destructive_migrations(None) == []
    assert check_models_match_migrations(None) == []
