"""PostgreSQL session advisory locks, every key of ours in one namespace: the high 32 bits of a
key are "nyx", the low 32 bits name what is locked (a ProjectSync's id; 0 for the one backfill of
a database, since no row has id 0; the top values for its one vector indexer and its one pass
writing chunks' text vectors). A session lock lives as long as its database connection, so
a worker killed with SIGKILL releases it with its connection."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

NAMESPACE = 0x6E7978  # "nyx": keeps our keys apart from any other user of advisory locks
BACKFILL = 0  # the low word of the backfill's key
INDEXER = 0xFFFFFFFF  # the low word of the vector indexer's key: ids count up from 1, far below it
TEXT_INDEXER = 0xFFFFFFFE  # the low word of the text-vector pass's key (embeddings.text_search)


def advisory_key(low: int) -> int:
    if not 0 <= low < 1 << 32:
        raise ValueError(f"an advisory lock's low word is 32 bits, not {low}")
    return NAMESPACE << 32 | low


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


def advisory_lock_is_held(key: int) -> bool:
    """Whether some session (a live worker) holds the lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s AND objid = %s AND objsubid = 1)",
            [key >> 32, key & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0]
