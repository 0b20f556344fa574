"""Database connection defaults: a connection per request (none kept past it under ASGI), a
statement limit for the app, a longer one for workers, none for migrations."""

import pytest
from django.db import connection

from nyxsync.db import as_migration_role
from tests.database import setting

pytestmark = pytest.mark.django_db(transaction=True)


def test_app_connections_are_not_kept_and_have_a_statement_limit(settings):
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0
    assert setting("statement_timeout") == "30s"


def test_a_statement_over_the_limit_is_cancelled_with_a_clear_error():
    from django.db import OperationalError, transaction

    with pytest.raises(OperationalError, match="canceling statement due to statement timeout"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = '50ms'")  # the limit, made short for the test
            cursor.execute("SELECT pg_sleep(1)")
    assert setting("statement_timeout") == "30s"


def test_migrations_run_without_a_statement_limit():
    with as_migration_role(connection):
        assert setting("statement_timeout") == "0"
    assert setting("statement_timeout") == "30s"


def test_a_worker_allows_longer_statements(settings):
    from nyxsync.db import worker_statement_limit

    options = connection.settings_dict["OPTIONS"]
    saved = dict(options)
    try:
        worker_statement_limit()
        connection.close()
        assert setting("statement_timeout") == f"{settings.NYXSYNC_WORKER_STATEMENT_TIMEOUT_SECONDS // 60}min"
    finally:
        options.clear()
        options.update(saved)
        connection.close()
