"""Tokens made before they were hashed (DRF's authtoken table, keys in plain text) keep working
after the move to digests, and no key stays readable in the database."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from nyxsync.db import as_migration_role
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)

move = importlib.import_module("nyxsync.migrations.0002_api_tokens_hashed").move_plain_tokens


def test_plain_keys_move_to_digests_and_keep_working(owner, owner_sql):
    key = "0123456789abcdef0123456789abcdef01234567"  # 40 hex characters, as DRF made them
    owner_sql(
        "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamptz NOT NULL, user_id integer NOT NULL)"
    )
    owner_sql("INSERT INTO authtoken_token VALUES (%s, now() - interval '1 day', %s)", [key, owner.pk])
    assert client_for().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401

    apps = MigrationExecutor(connection).loader.project_state(("nyxsync", "0002_api_tokens_hashed")).apps
    with as_migration_role(connection), connection.schema_editor() as editor:  # as migrate runs it
        move(apps, editor)
        move(apps, editor)  # re-runnable: nothing left to move, nothing moved twice

    assert client_for().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert owner_sql("SELECT count(*) FROM authtoken_token") == [(0,)]
    [(digest, token_key)] = owner_sql("SELECT digest, token_key FROM knox_authtoken WHERE user_id = %s", [owner.pk])
    assert key not in digest and token_key == key[:15]
    owner_sql("DROP TABLE authtoken_token")
