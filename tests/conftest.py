"""Shared fixtures: personas and the real services the suite runs against.

Fixture modules by area (registered below): tests/gitserver.py serves real git repositories over
git:// and http:// on 127.0.0.1; tests/workers.py runs real Celery workers.
"""

import pytest

pytest_plugins = ["tests.gitserver", "tests.workers", "tests.openai_standin", "tests.github_standin", "tests.syncing"]


def pytest_sessionstart(session):
    """The suite runs against the embedded servers the settings name (they only name them): up
    before any test, for the workers and web servers tests start as well as for the tests."""
    from nyxsync import embedded

    embedded.ensure_configured()


def pytest_sessionfinish(session):
    """`make test` leaves the machine as it found it: the embedded servers this run started are
    stopped at the end, unless another process (a `make run`) uses them now. Their data stays."""
    from nyxsync import embedded

    if embedded.started_here and not hasattr(session.config, "workerinput"):
        from django.db import connections

        connections.close_all()
        embedded.stop_services_unless_used(set(embedded.started_here))


@pytest.fixture
def as_system():
    """The test's own code acts for the whole system (every tenant's rows), as an operator's
    `manage.py` does: for tests that check what a door changed across tenants, or run commands
    in process. Without it, test code acts for nobody (test settings, as production), so services
    and selectors called directly meet row-level security; `as_owner` or tenancy.acting_as(user)
    make them act for someone."""
    from nyxsync import tenancy

    with tenancy.dangerously_as_system():
        yield


@pytest.fixture
def as_owner(owner):
    """The test's own code acts for `owner`, as the owner's requests do (row-level security)."""
    from nyxsync import tenancy

    with tenancy.acting_as(owner):
        yield owner


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", "owner@example.com", "owner-password")


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user("outsider", "outsider@example.com", "outsider-password")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django made and migrated the test database as the owner role; the tests then
    connect as the app's role, so row-level security is in force for everything they do."""
    from django.conf import settings
    from django.db import connection

    app_user = settings.NYXSYNC_APP_DB_USER
    owner = connection.settings_dict["USER"]
    if not app_user or app_user == owner:
        yield
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        # TransactionTestCase empties tables between tests with TRUNCATE; only tests may.
        cursor.execute(f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {connection.ops.quote_name(app_user)}")
    connection.close()
    connection.settings_dict["USER"] = app_user
    yield
    connection.close()
    connection.settings_dict["USER"] = owner  # the owner drops the test database


@pytest.fixture
def owner_sql(django_db_blocker):
    """owner_sql(sql, params=None) -> rows: run SQL on the test database as the owner role, as an
    operator with a psql prompt would (DDL by hand; writes past row-level security). Committed at
    once: use it from `transactional_db` tests."""
    import psycopg
    from django.conf import settings
    from django.db import connection

    def run(sql: str, params=None):
        db = connection.settings_dict
        owner = (settings.NYXSYNC_MIGRATION_DATABASE or {}).get("USER") or db["USER"]
        with psycopg.connect(host=db["HOST"], port=db["PORT"] or None, user=owner, dbname=db["NAME"], autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    return run


@pytest.fixture
def server_tmp():
    """A temporary folder that an embedded server's own system user can reach for the whole test.
    Not under pytest's tmp_path: every pytest session on the machine makes its root 0700 again
    when it starts, which would shut that user out mid-test."""
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="nyxsync-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def nyxsync_home(server_tmp):
    """A fresh NYXSYNC_HOME for commands run in subprocesses. Whatever embedded servers they
    started there (detached, by design) are stopped afterwards."""
    import subprocess
    import sys

    from django.conf import settings

    home = server_tmp / "home"
    home.mkdir()
    yield home
    subprocess.run(
        [sys.executable, "-m", "nyxsync.embedded", "stop"],
        cwd=settings.BASE_DIR,
        env={**__import__("os").environ, "NYXSYNC_HOME": str(home)},
        capture_output=True,
        timeout=60,
    )
