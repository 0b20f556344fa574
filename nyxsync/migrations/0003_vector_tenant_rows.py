"""Row-level security on vectors (embeddings_vector), now that each has a tenant: a vector is
visible when the connection acts for the system, or its tenant owns one of the projects the
connection may see (nyxsync_visible_projects, migration 0001). A run acting for a project sees
its owner's vectors and no one else's; copying another tenant's vector (only where the operator
shares vectors across tenants) is done as the system, by name (embeddings.vectors)."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION nyxsync_visible_tenants() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT coalesce(array_agg(DISTINCT p.owner_id), '{}') FROM projects_project p WHERE p.id = ANY (nyxsync_visible_projects())
$$;
"""
CONDITION = "nyxsync_is_system() OR tenant_id = ANY ((SELECT nyxsync_visible_tenants())::bigint[])"
FORWARDS = FUNCTION + f"""
ALTER TABLE embeddings_vector ENABLE ROW LEVEL SECURITY;
ALTER TABLE embeddings_vector FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_rows ON embeddings_vector;
CREATE POLICY tenant_rows ON embeddings_vector USING ({CONDITION}) WITH CHECK ({CONDITION});
"""
BACKWARDS = """
DROP POLICY IF EXISTS tenant_rows ON embeddings_vector;
ALTER TABLE embeddings_vector NO FORCE ROW LEVEL SECURITY;
ALTER TABLE embeddings_vector DISABLE ROW LEVEL SECURITY;
DROP FUNCTION IF EXISTS nyxsync_visible_tenants();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("nyxsync", "0002_api_tokens_hashed"),
        ("embeddings", "0011_vector_tenant_not_null"),
    ]
    operations = [migrations.RunSQL(FORWARDS, BACKWARDS)]
