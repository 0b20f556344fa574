"""int8-r2 as the default model: new branches get it, and the migration that registers it (so that
`migrate` builds its HNSW index) leaves an existing branch on its model with its vectors."""

import shutil

import psycopg
import pytest
from django.conf import settings

from embeddings.backends import available_models
from tests.embeddings.test_migrate_guard import project_dir, scratch_db  # noqa: F401 (fixtures)
from tests.factories import sha256, unit_vector

R2 = "all-MiniLM-L6-v2-int8-r2"
REGISTERS_R2 = "0018_int8_r2_embedding_model"


@pytest.mark.django_db
@pytest.mark.usefixtures("as_owner")
def test_a_new_branch_gets_int8_r2(make_repo, link):
    assert settings.NYXSYNC_EMBEDDING_MODEL == R2  # the shipped default (no test fixture set it)
    repo = make_repo()
    repo.write("app.py", "def main():\n    return 1\n")
    repo.commit()

    sync = link(repo)

    sync.refresh_from_db()
    assert sync.embedding_model == R2
    assert [model["name"] for model in available_models() if model["default"]] == [R2]


def seed_branch_on(database, model_name: str) -> None:
    """A user's branch on `model_name` with a live snapshot of three chunks and their vectors,
    written as the previous release would have."""
    with psycopg.connect(autocommit=True, **database["connect"]) as conn:
        user = conn.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) "
            "VALUES ('', false, 'alice', '', '', '', false, true, now()) RETURNING id"
        ).fetchone()[0]
        project = conn.execute(
            "INSERT INTO projects_project (uuid, owner_id, name, repository, sync_status, created_at, updated_at) "
            "VALUES (gen_random_uuid(), %s, 'web', 'alice/web', 'synced', now(), now()) RETURNING id",
            [user],
        ).fetchone()[0]
        sync = conn.execute(
            "INSERT INTO project_syncs (uuid, project_id, repository_url, branch, live_commit, live_generation, live_chunk_count, "
            "embedding_model, auto_sync, created_at, updated_at) VALUES (gen_random_uuid(), %s, 'https://github.com/alice/web.git', "
            "'main', 'abc', 1, 3, %s, false, now(), now()) RETURNING id",
            [project, model_name],
        ).fetchone()[0]
        file = conn.execute(
            "INSERT INTO embeddings_sourcefile (project_id, project_sync_id, path, blob_sha, size_bytes, language, skip_reason, "
            "born_generation) VALUES (%s, %s, 'app.py', 'b1', 10, 'python', '', 1) RETURNING id",
            [project, sync],
        ).fetchone()[0]
        model = conn.execute("SELECT id FROM embeddings_embeddingmodel WHERE name = %s", [model_name]).fetchone()[0]
        for n in range(3):
            text = f"def f{n}(): pass\n"
            conn.execute(
                "INSERT INTO embeddings_chunk (file_id, project_id, ordinal, start_line, end_line, content_hash, text) "
                "VALUES (%s, %s, %s, 1, 1, %s, %s)",
                [file, project, n, sha256(text), text],
            )
            conn.execute(
                "INSERT INTO embeddings_vector (model_id, tenant_id, content_hash, embedding, created_at, indexed) "
                "VALUES (%s, %s, %s, %s::vector, now(), true)",
                [model, user, sha256(text), str(unit_vector(n))],
            )


def branches_and_vectors(database) -> tuple[list, list]:
    with psycopg.connect(**database["connect"]) as conn:
        branches = conn.execute("SELECT id, embedding_model, live_generation, live_commit FROM project_syncs ORDER BY id").fetchall()
        vectors = conn.execute(
            "SELECT v.id, m.name, v.tenant_id, v.content_hash, v.embedding::text, v.indexed "
            "FROM embeddings_vector v JOIN embeddings_embeddingmodel m ON m.id = v.model_id ORDER BY v.id"
        ).fetchall()
    return branches, vectors


def test_the_migration_registers_r2_with_its_index_and_leaves_existing_branches_alone(project_dir, scratch_db):  # noqa: F811
    # The previous release: every embeddings migration before the one that registers int8-r2.
    previous = project_dir.path / "previous_embeddings_migrations"

    def later(folder, names):
        return [name for name in names if name == "__pycache__" or (name[:4].isdigit() and name[:4] >= REGISTERS_R2[:4])]

    shutil.copytree(settings.BASE_DIR / "embeddings" / "migrations", previous, ignore=later)
    settings_file = project_dir.path / "guard_settings.py"
    current = settings_file.read_text()
    settings_file.write_text(current + "MIGRATION_MODULES = {'embeddings': 'previous_embeddings_migrations'}\n")
    # --skip-checks: this checkout's models are the new release's (later migrations change them).
    before = project_dir("migrate", "--skip-checks", database=scratch_db)
    assert before.returncode == 0, before.stderr
    seed_branch_on(scratch_db, "all-MiniLM-L6-v2-int8")  # the default until this release
    with psycopg.connect(**scratch_db["connect"]) as conn:
        assert conn.execute("SELECT count(*) FROM embeddings_embeddingmodel WHERE name = %s", [R2]).fetchone() == (0,)
    branches, vectors = branches_and_vectors(scratch_db)

    settings_file.write_text(current)
    migrated = project_dir("migrate", database=scratch_db)

    assert migrated.returncode == 0, migrated.stderr
    assert "all 3 vectors that existed before migrate are intact" in migrated.stdout
    assert branches_and_vectors(scratch_db) == (branches, vectors)  # the branch keeps its model, its vectors untouched
    assert [row[1] for row in branches] == ["all-MiniLM-L6-v2-int8"] and len(vectors) == 3
    with psycopg.connect(**scratch_db["connect"]) as conn:
        model_id, backend, dimensions = conn.execute(
            "SELECT id, backend, dimensions FROM embeddings_embeddingmodel WHERE name = %s", [R2]
        ).fetchone()
        valid = conn.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [f"embeddings_vector_hnsw_{model_id}_indexed"],
        ).fetchone()
    assert (backend, dimensions) == ("onnxruntime", 384)
    assert valid == (True,)  # migrate built its HNSW index before any branch needs it
