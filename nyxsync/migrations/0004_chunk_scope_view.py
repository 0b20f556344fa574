"""embeddings_chunk_scope: the chunks the connection may see, by the condition of their
row-level-security policy (migration 0001), for the index lookups of search (embeddings.search).

Under the policy itself PostgreSQL applies the policy's condition before any operator that is not
leakproof, so a full-text match (`@@`) or a symbols match (`&&`) can never use its GIN index: it
tests every visible chunk, or every chunk of the table. This view is owned by the owner role
(which bypasses row-level security) and applies the same condition as an ordinary filter
(security_barrier off), so the planner may take the statement's own indexable conditions first,
the GIN match and the scope's project ids, and still returns only the chunks the policy would.

What that costs: an operator the planner runs before the view's condition sees other tenants'
rows. Search's statements only compare the stored text vector and symbols with constants (no
function that can raise or leak per row), and the view shows no text. The app's role may only
read it (nyxsync.db.grant_to_app_role); every other read and every write of chunks goes through
the policy as before."""

from django.db import migrations

FORWARDS = """
CREATE OR REPLACE VIEW embeddings_chunk_scope WITH (security_barrier = false) AS
SELECT c.id, c.project_id, c.file_id, c.text_search, c.symbols
FROM embeddings_chunk c
WHERE nyxsync_is_system() OR c.project_id = ANY ((SELECT nyxsync_visible_projects())::bigint[]);
"""
BACKWARDS = "DROP VIEW IF EXISTS embeddings_chunk_scope;"


class Migration(migrations.Migration):
    dependencies = [
        ("nyxsync", "0003_vector_tenant_rows"),
        ("embeddings", "0015_chunk_text_search_index"),
    ]
    operations = [migrations.RunSQL(FORWARDS, BACKWARDS)]
