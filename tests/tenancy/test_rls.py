"""Row-level security, seen through the app's own database role with raw, unfiltered SQL: a query
that forgot its filter still returns nothing foreign."""

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from embeddings.models import EmbedBatch, EmbeddingModel
from nyxsync.checks import PROTECTED_TABLES, check_row_level_security
from projects.models import Membership, WebhookDelivery
from syncs.models import SyncRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]

# How to tell a row's project, per protected table.
PROJECT_OF = {
    "projects_project": "SELECT id FROM projects_project",
    "projects_membership": "SELECT project_id FROM projects_membership",
    "projects_webhookdelivery": "SELECT project_id FROM projects_webhookdelivery",
    "project_syncs": "SELECT project_id FROM project_syncs",
    "syncs_syncrun": "SELECT ps.project_id FROM syncs_syncrun r JOIN project_syncs ps ON ps.id = r.project_sync_id",
    "embeddings_sourcefile": "SELECT project_id FROM embeddings_sourcefile",
    "embeddings_chunk": "SELECT project_id FROM embeddings_chunk",
    "embeddings_embedbatch": "SELECT ps.project_id FROM embeddings_embedbatch b JOIN syncs_syncrun r ON r.id = b.run_id JOIN project_syncs ps ON ps.id = r.project_sync_id",
}


@pytest.fixture
def tenants(make_repo, link, sync_now, django_user_model):
    """Two users, each with a synced project holding rows in every protected table; a third
    user is a viewer of the first project; a fourth is a superuser."""
    alice, bob = django_user_model.objects.create_user("alice"), django_user_model.objects.create_user("bob")
    viewer = django_user_model.objects.create_user("viewer")
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    projects = {}
    for user in (alice, bob):
        repo = make_repo()
        repo.write(f"{user.username}.py", f"def {user.username}_secret():\n    return 42\n").commit()
        sync = link(repo, user=user)
        run = sync_now(sync)
        assert run.status == SyncRun.Status.SUCCEEDED, run.error
        WebhookDelivery.objects.create(project=sync.project, delivery_id=f"d-{user.pk}", event="push")
        EmbedBatch.objects.create(run=run, model=EmbeddingModel.objects.get(name="hashing-256"), ordinal=0, content_hashes=["x"])
        projects[user.username] = sync.project
    Membership.objects.create(project=projects["alice"], user=viewer, role=Membership.Role.VIEWER)
    Membership.objects.create(project=projects["bob"], user=admin, role=Membership.Role.VIEWER)  # bob's own table has a row too
    return {"alice": alice, "bob": bob, "viewer": viewer, "root": admin, "projects": projects}


def as_app_role(user_id="", project_id="", system=""):
    """A raw connection as the app's role with the given settings, as nyxsync.tenancy sets them."""
    db = connection.settings_dict
    conn = psycopg.connect(host=db["HOST"], port=db["PORT"] or None, user=settings.NYXSYNC_APP_DB_USER, dbname=db["NAME"], autocommit=True)
    conn.execute(
        "SELECT set_config('nyxsync.user_id', %s, false), set_config('nyxsync.project_id', %s, false), set_config('nyxsync.system', %s, false)",
        [str(user_id), str(project_id), system],
    )
    return conn


def visible(conn) -> dict[str, set[int]]:
    return {table: {row[0] for row in conn.execute(sql).fetchall()} for table, sql in PROJECT_OF.items()}


def test_each_user_sees_only_their_own_rows_in_every_protected_table(tenants):
    alice_project, bob_project = tenants["projects"]["alice"].pk, tenants["projects"]["bob"].pk
    with as_app_role(user_id=tenants["alice"].pk) as conn:
        assert visible(conn) == {table: {alice_project} for table in PROJECT_OF}
    with as_app_role(user_id=tenants["bob"].pk) as conn:
        assert visible(conn) == {table: {bob_project} for table in PROJECT_OF}
    with as_app_role(user_id=tenants["viewer"].pk) as conn:
        assert visible(conn)["embeddings_chunk"] == {alice_project}


def test_without_a_setting_no_row_is_visible(tenants):
    with as_app_role() as conn:
        assert visible(conn) == {table: set() for table in PROJECT_OF}
        assert conn.execute("SELECT count(*) FROM embeddings_chunk WHERE text LIKE %s", ["%secret%"]).fetchone() == (0,)


def test_a_project_scope_a_superuser_and_the_system_see_what_they_should(tenants):
    alice_project, bob_project = tenants["projects"]["alice"].pk, tenants["projects"]["bob"].pk
    with as_app_role(project_id=bob_project) as conn:
        assert visible(conn)["embeddings_sourcefile"] == {bob_project}
    with as_app_role(user_id=tenants["root"].pk) as conn:
        assert visible(conn)["embeddings_chunk"] == {alice_project, bob_project}
    with as_app_role(system="on") as conn:
        assert visible(conn)["syncs_syncrun"] == {alice_project, bob_project}


def test_writing_into_another_tenant_s_project_is_refused(tenants):
    bob_project = tenants["projects"]["bob"]
    with as_app_role(user_id=tenants["alice"].pk) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO project_syncs (uuid, project_id, repository_url, branch, live_commit, live_generation, "
                "embedding_model, auto_sync, created_at, updated_at) VALUES (gen_random_uuid(), %s, 'x', 'evil', '', 0, "
                "'m', false, now(), now())",
                [bob_project.pk],
            )
        # An update of rows it cannot see touches nothing.
        assert conn.execute("UPDATE projects_project SET name = 'pwned' WHERE id = %s", [bob_project.pk]).rowcount == 0
    bob_project.refresh_from_db()
    assert bob_project.name != "pwned"


def test_the_app_role_bypasses_nothing_and_every_table_forces_the_policies(db):
    with as_app_role() as conn:
        assert conn.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone() == (False, False)
        forced = conn.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relrowsecurity AND relforcerowsecurity", [PROTECTED_TABLES]
        ).fetchall()
    assert {row[0] for row in forced} == set(PROTECTED_TABLES)
    assert check_row_level_security(None, databases=["default"]) == []


def test_vectors_are_visible_to_their_tenant_only_and_written_into_its_own_store(tenants):
    alice, bob = tenants["alice"], tenants["bob"]

    def tenants_seen(conn) -> set[int]:
        return {row[0] for row in conn.execute("SELECT DISTINCT tenant_id FROM embeddings_vector").fetchall()}

    with as_app_role(user_id=alice.pk) as conn:
        assert tenants_seen(conn) == {alice.pk}
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO embeddings_vector (model_id, tenant_id, content_hash, embedding, created_at) "
                "SELECT model_id, %s, 'planted', embedding, now() FROM embeddings_vector LIMIT 1",
                [bob.pk],
            )
    with as_app_role(user_id=tenants["viewer"].pk) as conn:
        assert tenants_seen(conn) == {alice.pk}  # a member of one of alice's projects
    with as_app_role(project_id=tenants["projects"]["bob"].pk) as conn:
        assert tenants_seen(conn) == {bob.pk}
    with as_app_role() as conn:
        assert tenants_seen(conn) == set()
    with as_app_role(system="on") as conn:
        assert tenants_seen(conn) == {alice.pk, bob.pk}


def test_the_search_view_shows_what_the_policy_shows_and_takes_no_write(tenants):
    alice_project, bob_project = tenants["projects"]["alice"].pk, tenants["projects"]["bob"].pk
    seen = "SELECT DISTINCT project_id FROM embeddings_chunk_scope"
    with as_app_role(user_id=tenants["alice"].pk) as conn:
        assert {row[0] for row in conn.execute(seen).fetchall()} == {alice_project}
        for write in (
            "UPDATE embeddings_chunk_scope SET symbols = '{}'",
            "DELETE FROM embeddings_chunk_scope",
            f"INSERT INTO embeddings_chunk_scope (id, project_id, file_id) VALUES (0, {bob_project}, 0)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(write)
    with as_app_role() as conn:
        assert conn.execute(seen).fetchall() == []
    with as_app_role(system="on") as conn:
        assert {row[0] for row in conn.execute(seen).fetchall()} == {alice_project, bob_project}
