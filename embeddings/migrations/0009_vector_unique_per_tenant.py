"""Vectors get a tenant, step 2 of 4: the unique key becomes (model, tenant, content hash), so
each tenant can hold its own vector of a text (0010 copies the shared ones).

atomic = False: the new unique index is built CONCURRENTLY (writes go on), then becomes the
constraint (`ADD CONSTRAINT ... USING INDEX`, a short lock, no scan), and the old constraint is
dropped. Re-runnable: each step checks whether it was done. From here on, code that predates
tenants fails its writes (its ON CONFLICT names the old key): stop old workers before migrating;
their runs fail with the live snapshot kept and are synced again.

Reversible only while no two tenants hold a vector of the same text: the old key cannot be
rebuilt over their copies, and the build fails with PostgreSQL's own message saying so."""

from django.db import migrations, models

from nyxsync.db import index_build, index_drop

NEW, OLD = "vector_unique_model_tenant_hash", "vector_unique_model_hash"


def _constraint_exists(cursor, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = 'embeddings_vector'::regclass", [name])
    return cursor.fetchone() is not None


def _swap(cursor, *, build: str, columns: str, drop: str) -> None:
    if not _constraint_exists(cursor, build):
        index_build(cursor, build, f"ON embeddings_vector ({columns})", unique=True)
        cursor.execute(f"ALTER TABLE embeddings_vector ADD CONSTRAINT {build} UNIQUE USING INDEX {build}")
    if _constraint_exists(cursor, drop):
        cursor.execute(f"ALTER TABLE embeddings_vector DROP CONSTRAINT {drop}")
    index_drop(cursor, drop)  # an index left by an interrupted run of the other direction


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        _swap(cursor, build=NEW, columns="model_id, tenant_id, content_hash", drop=OLD)


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        _swap(cursor, build=OLD, columns="model_id, content_hash", drop=NEW)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0008_vector_tenant")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="vector", name=OLD),
                migrations.AddConstraint(
                    model_name="vector",
                    constraint=models.UniqueConstraint(fields=("model", "tenant", "content_hash"), name=NEW),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
