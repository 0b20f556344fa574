"""Row-level security on every table that holds a tenant's data (see nyxsync.tenancy).

A row is visible when the connection acts for the system, or its project is among those the
connection may see: the one of `nyxsync.project_id`, or those the user of `nyxsync.user_id` owns
or is a member of (all of them for an active superuser). FORCE applies the policies to the
tables' owner too, unless it has BYPASSRLS, as the migration role must: the function below reads
the protected tables as its owner, and a role subject to the policies would recurse.

Vectors (embeddings_vector) are shared across tenants by content hash and carry no project: they
are reached only through chunks, which are protected.
"""

from django.db import migrations

FUNCTIONS = """
CREATE OR REPLACE FUNCTION nyxsync_is_system() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('nyxsync.system', true), '') = 'on'
$$;

CREATE OR REPLACE FUNCTION nyxsync_visible_projects() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT coalesce(array_agg(p.id), '{}')
    FROM projects_project p
    WHERE p.id = nullif(current_setting('nyxsync.project_id', true), '')::bigint
       OR EXISTS (
            SELECT 1 FROM auth_user u
            WHERE u.id = nullif(current_setting('nyxsync.user_id', true), '')::bigint AND u.is_active
              AND (u.is_superuser OR p.owner_id = u.id
                   OR EXISTS (SELECT 1 FROM projects_membership m WHERE m.project_id = p.id AND m.user_id = u.id))
       )
$$;
"""

# table -> the expression naming the project of a row
PROJECT_OF = {
    "projects_project": "id",
    "projects_membership": "project_id",
    "projects_webhookdelivery": "project_id",
    "project_syncs": "project_id",
    "embeddings_sourcefile": "project_id",
    "embeddings_chunk": "project_id",
}
# Tables whose rows reach their project through a protected parent (whose policy applies inside).
THROUGH = {
    "syncs_syncrun": "project_sync_id IN (SELECT id FROM project_syncs)",
    "embeddings_embedbatch": "run_id IN (SELECT id FROM syncs_syncrun)",
}


def _policies() -> str:
    statements = []
    rules = {table: f"{column} = ANY ((SELECT nyxsync_visible_projects())::bigint[])" for table, column in PROJECT_OF.items()}
    rules.update(THROUGH)
    for table, rule in rules.items():
        condition = f"nyxsync_is_system() OR {rule}"
        if table == "projects_project":
            # A project being inserted is not yet among those the function sees (nor is it for the
            # RETURNING of its id): its owner sees it by this column directly.
            condition += " OR owner_id = nullif(current_setting('nyxsync.user_id', true), '')::bigint"
        statements += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS tenant_rows ON {table}",
            f"CREATE POLICY tenant_rows ON {table} USING ({condition}) WITH CHECK ({condition})",
        ]
    return ";\n".join(statements) + ";"


def _undo() -> str:
    statements = []
    for table in [*PROJECT_OF, *THROUGH]:
        statements += [
            f"DROP POLICY IF EXISTS tenant_rows ON {table}",
            f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
        ]
    statements += ["DROP FUNCTION IF EXISTS nyxsync_visible_projects()", "DROP FUNCTION IF EXISTS nyxsync_is_system()"]
    return ";\n".join(statements) + ";"


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0003_memberships"),
        ("syncs", "0004_live_chunk_count_db_default"),
        ("embeddings", "0007_chunk_symbols_index"),
    ]
    operations = [migrations.RunSQL(FUNCTIONS + _policies(), _undo())]
