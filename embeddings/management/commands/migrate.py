"""`migrate`, guarded: the command everyone already types refuses a plan that would destroy or
rewrite embedding data (embeddings.guard), and verifies afterwards that every vector that
existed before is still there, unchanged (embeddings.integrity)."""

from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from embeddings import guard, integrity
from nyxsync.db import as_migration_role, grant_to_app_role


class Command(DjangoMigrate):
    help = (
        "Updates the database schema, refusing operations that would destroy or rewrite embedding "
        "data, and verifies the embeddings afterwards."
    )
    # System checks run in handle(), after the guard: a refused plan gets its one line, not the
    # check framework's report of the same migration.
    requires_system_checks = []

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--skip-checks", action="store_true", help="Skip system checks.")
        parser.add_argument(
            "--allow-destructive",
            action="append",
            default=[],
            metavar="APP.MIGRATION",
            help="Apply this destructive migration anyway (repeatable). Prefer marking the migration in code.",
        )

    def handle(self, *args, **options):
        connection = connections[options["database"]]
        with as_migration_role(connection):
            self._migrate(connection, *args, **options)
            grant_to_app_role(connection)
            if not (options["plan"] or options["check_unapplied"]):
                _build_vector_indexes(connection)

    def _migrate(self, connection, *args, **options):
        _require_database(connection)
        token = guard.allowed_for_this_run.set(frozenset(options["allow_destructive"]))
        try:
            if options["plan"] or options["check_unapplied"] or options["fake"]:
                self._check(options)
                return super().handle(*args, **options)
            plan = _plan(connection, options)
            if plan:
                self._refuse_hazards(connection, plan, options["allow_destructive"])
            self._check(options)
            before = integrity.take_report(options["database"])
            super().handle(*args, **options)
        except DatabaseError as exc:
            if "permission denied to create extension" in str(exc):
                raise CommandError(
                    "the database role may not create the pgvector extension: run "
                    "`CREATE EXTENSION vector;` once as a superuser, then migrate again"
                ) from exc
            raise
        finally:
            guard.allowed_for_this_run.reset(token)

        problems = integrity.verify_against(before, options["database"])
        if problems:
            raise CommandError("embeddings changed during migrate: " + "; ".join(problems))
        if before and options["verbosity"] > 0:
            total = sum(scope.vectors for scope in before if scope.kind in ("model", "column"))
            self.stdout.write(f"Embeddings verified: all {total:,} vectors that existed before migrate are intact.")

    def _check(self, options) -> None:
        if not options["skip_checks"]:
            self.check(databases=[options["database"]])

    def _refuse_hazards(self, connection, plan, allowed) -> None:
        large_tables = _large_tables(connection)
        protected = None
        for migration, backwards, state in plan:
            if guard.is_allowed(migration, allowed):
                continue
            if protected is None:
                protected = guard.protected_tables(state, extra=(t for t, _, _ in integrity.vector_columns(connection.alias)))
            hazards = guard.migration_hazards(
                migration, state, backwards=backwards, protected=protected, large_tables=large_tables
            )
            if hazards:
                more = f" (and {len(hazards) - 1} more)" if len(hazards) > 1 else ""
                raise CommandError(hazards[0].message() + more)


def _build_vector_indexes(connection) -> None:
    """Models registered at run time got no index (the app's role may not build one). Only on
    the latest embeddings schema, which the index's definition assumes (not after a migrate
    back to an earlier one)."""
    executor = MigrationExecutor(connection)
    embeddings_leaves = [key for key in executor.loader.graph.leaf_nodes() if key[0] == "embeddings"]
    if executor.migration_plan(embeddings_leaves):
        return
    if "embeddings_vector" in connection.introspection.table_names():
        from embeddings.vectors import vector_indexes_ensure

        vector_indexes_ensure()


def _require_database(connection) -> None:
    """One readable line, not a traceback, when the database is unreachable or lacks pgvector."""
    where = f"{connection.settings_dict.get('HOST') or 'localhost'}/{connection.settings_dict.get('NAME')}"
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
            has_vector = cursor.fetchone() is not None
            cursor.execute("SELECT current_user, has_schema_privilege(current_user, 'public', 'CREATE')")
            role, may_create = cursor.fetchone()
    except DatabaseError as exc:
        first_line = " ".join(str(exc).split())[:300]
        raise CommandError(f"cannot reach the database at {where}: {first_line}") from exc
    if not may_create:
        raise CommandError(
            f"the database role {role!r} may not create tables in {where}: migrations run as the owner role; "
            "set MIGRATION_DATABASE_URL to it (the app connects as a role under row-level security)"
        )
    if not has_vector:
        raise CommandError(
            f"the PostgreSQL server at {where} has no pgvector extension: install pgvector there "
            "(or unset DATABASE_URL to use the embedded server, which has it)"
        )


def _plan(connection, options):
    """[(migration, backwards, state before it)] as Django's migrate will apply them, or None
    when the arguments are invalid (Django's own handle then says why)."""
    executor = MigrationExecutor(connection)
    loader = executor.loader
    app_label, name = options["app_label"], options["migration_name"]
    try:
        if app_label and name:
            target = None if name == "zero" else loader.get_migration_by_prefix(app_label, name).name
            targets = [(app_label, target)]
        elif app_label:
            targets = [key for key in loader.graph.leaf_nodes() if key[0] == app_label]
        else:
            targets = loader.graph.leaf_nodes()
        plan = executor.migration_plan(targets)
    except Exception:
        return None
    steps = []
    for migration, backwards in plan:
        state = loader.project_state((migration.app_label, migration.name), at_end=False)
        steps.append((migration, backwards, state))
    return steps


def _large_tables(connection) -> dict[str, int]:
    from django.conf import settings

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace AND reltuples > %s",
            [settings.NYXSYNC_GUARD_LARGE_TABLE_ROWS],
        )
        return dict(cursor.fetchall())
