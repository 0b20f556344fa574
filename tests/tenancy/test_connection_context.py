"""The context a connection carries (nyxsync.tenancy) is sent to PostgreSQL only when it changes:
an API request sends its user's once, a pooled connection goes back to the pool acting for
nobody, and a query after a request acts for whoever the code around it acts for."""

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg_pool import ConnectionPool

from nyxsync import tenancy
from tests.api.conftest import client_for
from tests.factories import ProjectFactory, ProjectSyncFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def statements(monkeypatch):
    """Every statement psycopg sends, from any cursor (Django's and the tenancy's own)."""
    sent = []
    execute = psycopg.Cursor.execute

    def recording(self, query, params=None, **kwargs):
        sent.append(str(query))
        return execute(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", recording)
    return sent


def settings_of(cursor) -> tuple:
    cursor.execute(
        "SELECT current_setting('nyxsync.user_id', true), current_setting('nyxsync.project_id', true), "
        "current_setting('nyxsync.system', true)"
    )
    return tuple(value or "" for value in cursor.fetchone())


def test_an_api_request_sends_its_users_context_once_and_reads_only_the_token_it_was_given(owner, statements):
    with tenancy.dangerously_as_system():
        project = ProjectFactory(owner=owner)
        ProjectSyncFactory(project=project)
    api = client_for(owner)
    api.get("/api/v1/projects/")
    with connection.cursor() as cursor:  # acting for nobody, as a connection comes back from the pool
        assert settings_of(cursor) == ("", "", "")
    statements.clear()

    response = api.get(f"/api/v1/projects/{project.uuid}/")

    assert response.status_code == 200, response.content
    assert [sql for sql in statements if "set_config('nyxsync." in sql] == [tenancy._SET]
    # Knox's own authentication also reads every other token of the user (to sweep expired ones).
    assert len([sql for sql in statements if "knox_authtoken" in sql]) == 1, statements


def test_a_query_after_a_request_acts_for_the_code_around_it_not_for_the_requests_user(owner):
    with tenancy.dangerously_as_system():
        ProjectFactory(owner=owner)
    assert client_for(owner).get("/api/v1/projects/").status_code == 200  # acted for the owner

    with connection.cursor() as cursor:
        assert settings_of(cursor) == tenancy.current().settings() == ("", "", "")  # nobody: no scope here
    with tenancy.dangerously_as_system(), connection.cursor() as cursor:
        assert settings_of(cursor) == ("", "", "on")


def test_a_context_set_in_a_transaction_that_rolled_back_is_sent_again(owner):
    from django.db import transaction

    with tenancy.acting_as(None), connection.cursor() as cursor:
        assert settings_of(cursor) == ("", "", "")
        with pytest.raises(RuntimeError), transaction.atomic():
            tenancy.switch_to(owner)  # sent inside the transaction
            assert settings_of(cursor) == (str(owner.pk), "", "")
            raise RuntimeError  # its rollback takes the setting back to nobody
        assert settings_of(cursor) == (str(owner.pk), "", "")  # the context in force, sent again


def test_a_pooled_connection_goes_back_to_the_pool_acting_for_nobody(owner):
    db = connection.settings_dict
    conninfo = psycopg.conninfo.make_conninfo(
        host=db["HOST"], port=db["PORT"] or None, user=settings.NYXSYNC_APP_DB_USER, dbname=db["NAME"]
    )
    with ConnectionPool(
        conninfo, min_size=1, max_size=1, reset=tenancy.reset_pooled_connection, kwargs={"autocommit": True}
    ) as pool:
        with pool.connection() as raw:
            tenancy._ensure_context(raw, tenancy.Context(user_id=owner.pk))
            with raw.cursor() as cursor:
                assert settings_of(cursor) == (str(owner.pk), "", "")
        with pool.connection() as raw:  # the same one (max_size 1), back from its reset
            with raw.cursor() as cursor:
                assert settings_of(cursor) == ("", "", "")
            assert raw._nyxsync_context == (tenancy.NOBODY, False)


def test_a_context_set_in_a_savepoint_that_rolled_back_is_sent_again(owner):
    from django.db import transaction

    with tenancy.acting_as(None), transaction.atomic(), connection.cursor() as cursor:
        assert settings_of(cursor) == ("", "", "")  # nobody, sent in the outer transaction
        with pytest.raises(RuntimeError), transaction.atomic():  # a savepoint
            tenancy.switch_to(owner)  # sent inside the savepoint
            assert settings_of(cursor) == (str(owner.pk), "", "")
            raise RuntimeError  # ROLLBACK TO SAVEPOINT takes the setting back to nobody; the outer goes on
        assert settings_of(cursor) == (str(owner.pk), "", "")  # the context in force, sent again


def test_a_context_set_before_a_savepoint_that_rolled_back_still_holds(owner):
    from django.db import transaction

    with tenancy.acting_as(owner), transaction.atomic(), connection.cursor() as cursor:
        assert settings_of(cursor) == (str(owner.pk), "", "")
        with pytest.raises(RuntimeError), transaction.atomic():
            cursor.execute("SELECT 1")
            raise RuntimeError
        assert settings_of(cursor) == (str(owner.pk), "", "")
