"""Database helpers: index builds shared by migrations and run-time code (migrations import
them, so their behaviour must stay compatible with every migration that calls them), and the
switch to the owner role that migrations and index builds run as."""

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured


def index_exists(cursor, name: str) -> bool | None:
    """True for a valid index, False for an invalid one (a killed concurrent build), None if absent."""
    cursor.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s", [name])
    row = cursor.fetchone()
    return None if row is None else row[0]


def index_build(cursor, name: str, definition: str, *, concurrently: bool = True, unique: bool = False) -> None:
    """CREATE [UNIQUE] INDEX name `definition` ("ON table USING ..."), CONCURRENTLY unless told
    otherwise (inside a transaction it cannot be). An invalid index left by a killed concurrent
    build is dropped first: IF NOT EXISTS would keep it, and it serves no query."""
    how = "CONCURRENTLY" if concurrently else ""
    if index_exists(cursor, name) is False:
        cursor.execute(f"DROP INDEX {how} {name}")
    cursor.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {how} IF NOT EXISTS {name} {definition}")


def index_drop(cursor, name: str, *, concurrently: bool = True) -> None:
    cursor.execute(f"DROP INDEX {'CONCURRENTLY' if concurrently else ''} IF EXISTS {name}")


def run_in_batches(sql: str, params: Sequence, *, batch_size: int, deadline: float | None) -> tuple[int, bool]:
    """Run `sql`, an UPDATE or DELETE of at most `batch_size` rows (its last parameter, after
    `params`), one short transaction a batch (no long lock on the table), until a batch comes back
    short or time.monotonic() passes `deadline`. Returns (rows changed, whether it stopped for
    time). The loop of the background passes (embeddings.vectors' indexer and garbage collection,
    embeddings.text_search): a killed pass loses at most its uncommitted batch."""
    from django.db import connection, transaction

    changed = 0
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            return changed, True  # maybe none is left: the next pass finds out at once
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [*params, batch_size])
            count = cursor.rowcount
        changed += count
        if count < batch_size:
            return changed, False


@contextmanager
def commit_without_waiting_for_disk() -> Iterator[None]:
    """Run the block in a transaction whose commit does not wait for the WAL to reach the disk
    (synchronous_commit off, for this transaction only): 4-9 ms a commit on these machines'
    disks against 0.07 ms. Only for writes that are cheap to lose in a crash of the database
    server itself (a crash of our process loses nothing committed; the server's loses at most
    its last fraction of a second of such commits, never half of one): a run's progress report,
    a live event. Inside a caller's transaction it changes nothing: that commit is the caller's."""
    from django.db import connection, transaction

    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


@contextmanager
def as_migration_role(connection) -> Iterator[None]:
    """Migrations run as the owner role (it bypasses row-level security); the app's role only
    gets to read and write rows. The database stays the one configured (a test database too)."""
    from django.conf import settings

    target = settings.NYXSYNC_MIGRATION_DATABASE
    if not target or connection.alias != "default":
        yield
        return
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update({key: target[key] for key in ("USER", "PASSWORD", "HOST", "PORT") if target.get(key)})
    # No statement limit for migrations: a concurrent index build of a large table takes minutes.
    connection.settings_dict["OPTIONS"] = {**saved.get("OPTIONS", {}), "options": "-c statement_timeout=0"}
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def grant_to_app_role(connection) -> None:
    """What the app's role may do: rows only (no DDL, no TRUNCATE), on every table migrations made."""
    from django.conf import settings

    app = settings.NYXSYNC_APP_DB_USER
    if not app or app == connection.settings_dict.get("USER"):
        return
    role = connection.ops.quote_name(app)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app])
        if cursor.fetchone() is None:
            raise ImproperlyConfigured(f"the app's database role {app!r} does not exist: create it (LOGIN, NOBYPASSRLS) and migrate again")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}")
        # Views are read-only for the app: one that bypasses row-level security for reading
        # (embeddings_chunk_scope) must never be a way to write past it.
        cursor.execute("SELECT quote_ident(viewname) FROM pg_views WHERE schemaname = 'public'")
        for (view,) in cursor.fetchall():
            cursor.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {view} FROM {role}")


def worker_statement_limit() -> None:
    """Celery workers run statements longer than a web request's: NYXSYNC_WORKER_STATEMENT_TIMEOUT_SECONDS
    on the connections they open from now on (one already open is closed, to reopen with it)."""
    from django.conf import settings
    from django.db import connections

    connection = connections["default"]
    options = connection.settings_dict.setdefault("OPTIONS", {})
    options["options"] = f"-c statement_timeout={settings.NYXSYNC_WORKER_STATEMENT_TIMEOUT_SECONDS * 1000}"
    if connection.connection is not None and not connection.in_atomic_block:
        connection.close()
