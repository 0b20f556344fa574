"""System checks on the database the app connects to (`manage.py check --database default`):
row-level security must hold for the app's role."""

from django.core.checks import Error, Tags, register
from django.db import connections

PROTECTED_TABLES = [
    "projects_project", "projects_membership", "projects_webhookdelivery", "project_syncs",
    "syncs_syncrun", "embeddings_sourcefile", "embeddings_chunk", "embeddings_embedbatch", "embeddings_vector",
]


@register(Tags.database)
def check_row_level_security(app_configs, databases=None, **kwargs):
    from django.conf import settings

    if not databases or "default" not in databases:
        return []
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        role, superuser, bypass = cursor.fetchone()
        cursor.execute("SELECT to_regprocedure('nyxsync_visible_projects()') IS NOT NULL")
        migrated = cursor.fetchone()[0]
    migration_user = (settings.NYXSYNC_MIGRATION_DATABASE or {}).get("USER")
    if not migrated or (migration_user and role == migration_user):
        return []  # before the migrations, or while they run as the owner (which must bypass)
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r' AND relrowsecurity AND relforcerowsecurity",
            [PROTECTED_TABLES],
        )
        enforced = {row[0] for row in cursor.fetchall()}
    errors = []
    if superuser or bypass:
        errors.append(
            Error(
                f"the app connects as {role!r}, which bypasses row-level security.",
                hint="Connect as a role without SUPERUSER or BYPASSRLS (DATABASE_URL); migrations use MIGRATION_DATABASE_URL.",
                id="nyxsync.E101",
            )
        )
    missing = sorted(set(PROTECTED_TABLES) - enforced)
    if missing:
        errors.append(
            Error(f"row-level security is not enforced on {', '.join(missing)}.", hint="Run `manage.py migrate`.", id="nyxsync.E102")
        )
    return errors
