"""Migrations 0016-0017 on a populated database: the vectors that exist are indexed already and
stay so, untouched; each model's HNSW index is rebuilt over its indexed rows (the old one gone),
so the vectors written afterwards are pending until the indexer moves them in."""

import psycopg

from tests.embeddings.test_migrate_guard import project_dir, scratch_db  # noqa: F401 (fixtures)
from tests.factories import sha256, unit_vector

BEFORE = "0015_chunk_text_search_index"


def indexes(database) -> dict[str, str]:
    with psycopg.connect(**database["connect"]) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'embeddings_vector' AND indexname LIKE 'embeddings_vector_hnsw_%%'"
        ).fetchall()
    return dict(rows)


def test_the_hnsw_index_is_rebuilt_over_indexed_rows_and_no_vector_is_touched(project_dir, scratch_db):  # noqa: F811
    assert project_dir("migrate", database=scratch_db).returncode == 0
    back = project_dir("migrate", "embeddings", BEFORE, "--allow-destructive", "embeddings.0016_vector_indexed", database=scratch_db)
    assert back.returncode == 0, back.stderr
    with psycopg.connect(autocommit=True, **scratch_db["connect"]) as conn:
        model = conn.execute("SELECT id FROM embeddings_embeddingmodel WHERE name = 'all-MiniLM-L6-v2'").fetchone()[0]
        for n in range(4):  # vectors written before the column
            conn.execute(
                "INSERT INTO embeddings_vector (model_id, tenant_id, content_hash, embedding, created_at) VALUES (%s, 0, %s, %s::vector, now())",
                [model, sha256(str(n)), str(unit_vector(n))],
            )
    assert f"embeddings_vector_hnsw_{model}" in indexes(scratch_db)  # the old definition, back again

    migrated = project_dir("migrate", database=scratch_db)

    assert migrated.returncode == 0, migrated.stderr
    assert "all 4 vectors that existed before migrate are intact" in migrated.stdout
    after = indexes(scratch_db)
    assert f"embeddings_vector_hnsw_{model}" not in after
    assert after[f"embeddings_vector_hnsw_{model}_indexed"].endswith(f"WHERE ((model_id = {model}) AND indexed)")
    with psycopg.connect(autocommit=True, **scratch_db["connect"]) as conn:
        assert conn.execute("SELECT count(*) FILTER (WHERE indexed), count(*) FROM embeddings_vector").fetchone() == (4, 4)
        assert conn.execute("SELECT bool_and(indisvalid) FROM pg_index WHERE indexrelid::regclass::text LIKE 'embeddings_vector_%%'").fetchone()[0]
        # A vector written now waits for the indexer.
        conn.execute(
            "INSERT INTO embeddings_vector (model_id, tenant_id, content_hash, embedding, created_at) "
            "VALUES (%s, 0, repeat('f', 64), array_fill(0.1, ARRAY[384])::vector, now())",
            [model],
        )
        assert conn.execute("SELECT indexed FROM embeddings_vector WHERE content_hash = repeat('f', 64)").fetchone() == (False,)
