"""Vectors get a tenant, step 4 of 4: NOT NULL, without a long lock. A CHECK constraint added NOT
VALID (instant), validated while writes go on (SHARE UPDATE EXCLUSIVE), lets SET NOT NULL skip
its scan of the table; the CHECK is then dropped. atomic = False: each statement commits on its
own, so no lock is held across the validation."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

CHECK = "vector_tenant_not_null"


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0010_vector_tenant_fill")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="vector",
                    name="tenant",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE embeddings_vector DROP CONSTRAINT IF EXISTS {CHECK}",
                    migrations.RunSQL.noop,
                ),
                migrations.RunSQL(
                    f"ALTER TABLE embeddings_vector ADD CONSTRAINT {CHECK} CHECK (tenant_id IS NOT NULL) NOT VALID",
                    migrations.RunSQL.noop,
                ),
                migrations.RunSQL(f"ALTER TABLE embeddings_vector VALIDATE CONSTRAINT {CHECK}", migrations.RunSQL.noop),
                migrations.RunSQL(
                    "ALTER TABLE embeddings_vector ALTER COLUMN tenant_id SET NOT NULL",
                    "ALTER TABLE embeddings_vector ALTER COLUMN tenant_id DROP NOT NULL",
                ),
                migrations.RunSQL(f"ALTER TABLE embeddings_vector DROP CONSTRAINT {CHECK}", migrations.RunSQL.noop),
            ],
        ),
    ]
