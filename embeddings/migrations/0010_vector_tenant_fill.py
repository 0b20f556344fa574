"""Vectors get a tenant, step 3 of 4: every vector made before tenants goes to the owners of the
projects whose chunks have its text, without embedding anything again. The row itself goes to
the first of them (its id, hash and embedding unchanged, so `check_embeddings --against` a report
taken before still agrees); each other owner gets a copy. A vector no chunk has any more goes to
tenant 0, which no project belongs to: garbage collection takes it after its grace period.

atomic = False and in batches of BATCH vectors, each in a short transaction of its own (copies
and fill together): no long lock, and an interrupted run goes on where it stopped (it takes the
vectors still without a tenant; a copy made twice is skipped by the unique key)."""

from django.db import migrations, transaction

BATCH = 2000

FILL_BATCH = """
WITH batch AS (
    SELECT id, model_id, content_hash, embedding, created_at FROM embeddings_vector
    WHERE tenant_id IS NULL ORDER BY id LIMIT %s FOR UPDATE
),
holders AS (
    SELECT DISTINCT b.id, p.owner_id
    FROM batch b
    JOIN embeddings_chunk c ON c.content_hash = b.content_hash
    JOIN projects_project p ON p.id = c.project_id
),
firsts AS (SELECT id, min(owner_id) AS owner_id FROM holders GROUP BY id),
copies AS (
    INSERT INTO embeddings_vector (model_id, tenant_id, content_hash, embedding, created_at)
    SELECT b.model_id, h.owner_id, b.content_hash, b.embedding, b.created_at
    FROM batch b JOIN holders h ON h.id = b.id JOIN firsts f ON f.id = b.id
    WHERE h.owner_id <> f.owner_id
    ON CONFLICT (model_id, tenant_id, content_hash) DO NOTHING
)
UPDATE embeddings_vector v SET tenant_id = coalesce(f.owner_id, 0)
FROM batch b LEFT JOIN firsts f ON f.id = b.id
WHERE v.id = b.id
"""


def fill(apps, schema_editor):
    connection = schema_editor.connection
    while True:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(FILL_BATCH, [BATCH])
            if cursor.rowcount < BATCH:
                return


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0009_vector_unique_per_tenant")]

    # Backwards: nothing to undo (0011 backwards makes the column nullable again; the copies
    # are vectors like any other, and 0009 backwards refuses to run while they exist).
    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
