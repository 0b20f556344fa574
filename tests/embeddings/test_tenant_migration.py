"""Vectors made before tenants survive the guarded `migrate` into the new keying without being
embedded again: each tenant that uses a text gets the vector (the row itself for the first, an
exact copy for the others), and `check_embeddings --against` a report saved before agrees."""

import json

import psycopg

from tests.embeddings.test_migrate_guard import project_dir, scratch_db  # noqa: F401 (fixtures)
from tests.factories import sha256, unit_vector

BEFORE_TENANTS = "0007_chunk_symbols_index"
SHARED, ALICES, BOBS, NOBODYS = "def shared(): pass\n", "def alice(): pass\n", "def bob(): pass\n", "def gone(): pass\n"


def seed_two_tenants_sharing_a_vector(database) -> dict[str, int]:
    """Alice's and Bob's projects, each with a live snapshot; both hold SHARED, each a text of its
    own; one vector per text as the store held them before tenants, and one no chunk uses."""
    with psycopg.connect(autocommit=True, **database["connect"]) as conn:
        model = conn.execute("SELECT id FROM embeddings_embeddingmodel WHERE name = 'all-MiniLM-L6-v2'").fetchone()[0]
        users = {}
        for name, texts in (("alice", [SHARED, ALICES]), ("bob", [SHARED, BOBS])):
            user = users[name] = conn.execute(
                "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, "
                "date_joined) VALUES ('', false, %s, '', '', '', false, true, now()) RETURNING id",
                [name],
            ).fetchone()[0]
            project = conn.execute(
                "INSERT INTO projects_project (uuid, owner_id, name, repository, sync_status, created_at, updated_at) "
                "VALUES (gen_random_uuid(), %s, 'web', %s, 'synced', now(), now()) RETURNING id",
                [user, f"{name}/web"],
            ).fetchone()[0]
            sync = conn.execute(
                "INSERT INTO project_syncs (uuid, project_id, repository_url, branch, live_commit, live_generation, "
                "embedding_model, auto_sync, created_at, updated_at) VALUES (gen_random_uuid(), %s, 'https://example.com/x.git', "
                "'main', 'abc', 1, 'all-MiniLM-L6-v2', false, now(), now()) RETURNING id",
                [project],
            ).fetchone()[0]
            file = conn.execute(
                "INSERT INTO embeddings_sourcefile (project_id, project_sync_id, path, blob_sha, size_bytes, language, "
                "skip_reason, born_generation) VALUES (%s, %s, 'app.py', 'b1', 10, 'python', '', 1) RETURNING id",
                [project, sync],
            ).fetchone()[0]
            for n, text in enumerate(texts):
                conn.execute(
                    "INSERT INTO embeddings_chunk (file_id, project_id, ordinal, start_line, end_line, content_hash, text) "
                    "VALUES (%s, %s, %s, 1, 1, %s, %s)",
                    [file, project, n, sha256(text), text],
                )
        for n, text in enumerate([SHARED, ALICES, BOBS, NOBODYS]):
            conn.execute(
                "INSERT INTO embeddings_vector (model_id, content_hash, embedding, created_at) VALUES (%s, %s, %s::vector, now())",
                [model, sha256(text), str(unit_vector(n))],
            )
    return users


def vectors(database) -> list[tuple]:
    with psycopg.connect(**database["connect"]) as conn:
        return conn.execute("SELECT id, tenant_id, content_hash, embedding::text FROM embeddings_vector ORDER BY id").fetchall()


def test_vectors_made_before_tenants_go_to_every_tenant_that_uses_them(project_dir, scratch_db):  # noqa: F811
    # A database as it was before tenants: everything applied, then the migrations since undone
    # (two of them drop a column, empty here, on the way back: that has to be allowed).
    assert project_dir("migrate", database=scratch_db).returncode == 0
    empty_columns = [
        *("--allow-destructive", "embeddings.0008_vector_tenant"),
        *("--allow-destructive", "embeddings.0013_chunk_text_search"),
        *("--allow-destructive", "embeddings.0016_vector_indexed"),
    ]
    back = project_dir("migrate", "embeddings", BEFORE_TENANTS, *empty_columns, database=scratch_db)
    assert back.returncode == 0, back.stderr
    users = seed_two_tenants_sharing_a_vector(scratch_db)
    with psycopg.connect(**scratch_db["connect"]) as conn:
        before = {row[1]: row for row in conn.execute("SELECT id, content_hash, embedding::text FROM embeddings_vector")}
    report = project_dir.path / "before.json"
    assert project_dir("check_embeddings", "--save", str(report), database=scratch_db).returncode == 0

    migrated = project_dir("migrate", database=scratch_db)

    assert migrated.returncode == 0, migrated.stderr
    assert "Embeddings verified: all 4 vectors that existed before migrate are intact." in migrated.stdout
    against = project_dir("check_embeddings", "--against", str(report), database=scratch_db)
    assert against.returncode == 0, against.stderr
    after = vectors(scratch_db)
    alice, bob = users["alice"], users["bob"]
    by_tenant_and_hash = {(tenant, content_hash): (pk, embedding) for pk, tenant, content_hash, embedding in after}
    assert set(by_tenant_and_hash) == {
        (alice, sha256(SHARED)), (bob, sha256(SHARED)), (alice, sha256(ALICES)), (bob, sha256(BOBS)), (0, sha256(NOBODYS)),
    }  # fmt: skip
    # Every original row kept its id and its embedding; the copy holds the very same embedding.
    for pk, _, embedding in before.values():
        assert any(row == (pk, embedding) for row in by_tenant_and_hash.values())
    assert by_tenant_and_hash[(alice, sha256(SHARED))] == (before[sha256(SHARED)][0], before[sha256(SHARED)][2])
    assert by_tenant_and_hash[(bob, sha256(SHARED))][1] == before[sha256(SHARED)][2]
    # Chunks written before got their stored text vector too.
    with psycopg.connect(**scratch_db["connect"]) as conn:
        assert conn.execute("SELECT count(*) FROM embeddings_chunk WHERE text_search IS NULL").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM embeddings_chunk WHERE text_search @@ 'shared'::tsquery").fetchone() == (2,)
    # And each project's live chunks all have a vector of their tenant now.
    project_dir("check_embeddings", "--save", str(project_dir.path / "after.json"), database=scratch_db)
    scopes = json.loads((project_dir.path / "after.json").read_text())["scopes"]
    assert sorted((s["label"], s["vectors"], s["missing"]) for s in scopes if s["kind"] == "project") == [
        ("project alice/web", 2, 0), ("project bob/web", 2, 0),
    ]  # fmt: skip
