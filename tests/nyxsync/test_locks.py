"""Advisory locks: every key of ours in one namespace, the backfill's too."""

import pytest
from django.db import connection

from embeddings.backfill import _single_backfill
from nyxsync.locks import NAMESPACE
from syncs.locks import project_sync_lock, project_sync_lock_is_held

pytestmark = pytest.mark.django_db


def _our_locks() -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT classid::bigint, objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        return cursor.fetchall()


def test_it_keeps_the_backfill_lock_inside_the_namespace():
    with _single_backfill():
        assert [classid for classid, _ in _our_locks()] == [NAMESPACE]
    assert _our_locks() == []


def test_a_backfill_holds_no_branch_lock():
    with _single_backfill():
        assert not project_sync_lock_is_held(1)  # the sweeper would take a lost run for alive
        with project_sync_lock(1) as acquired:
            assert acquired and project_sync_lock_is_held(1)
    assert not project_sync_lock_is_held(1)
