"""One run per branch at a time, across any number of workers: a PostgreSQL session advisory lock
keyed on the ProjectSync. The lock lives as long as the worker's database connection, so a worker
killed with SIGKILL releases it with its connection: a run that holds no lock is a lost run."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# Keeps our keys apart from any other user of advisory locks on the same database.
_NAMESPACE = 0x6E7978 << 32  # "nyx"


def _key(project_sync_id: int) -> int:
    return _NAMESPACE | project_sync_id


@contextmanager
def advisory_lock(key: int) -> Iterator[bool]:
    """Try to take a session advisory lock; yields whether it was taken, releases it after."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def project_sync_lock(project_sync_id: int):
    """The branch's lock (see advisory_lock)."""
    return advisory_lock(_key(project_sync_id))


def project_sync_lock_is_held(project_sync_id: int) -> bool:
    """Whether some session (a live worker) holds the branch's lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s AND objid = %s AND objsubid = 1)",
            [_key(project_sync_id) >> 32, _key(project_sync_id) & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0]
