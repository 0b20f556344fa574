"""One run per branch at a time, across any number of workers: a session advisory lock keyed on
the ProjectSync (nyxsync.locks). A run that holds no lock is a lost run: its worker's connection,
and with it the lock, is gone."""

from nyxsync.locks import advisory_key, advisory_lock, advisory_lock_is_held


def project_sync_lock(project_sync_id: int):
    """The branch's lock (see nyxsync.locks.advisory_lock)."""
    return advisory_lock(advisory_key(project_sync_id))


def project_sync_lock_is_held(project_sync_id: int) -> bool:
    """Whether some session (a live worker) holds the branch's lock."""
    return advisory_lock_is_held(advisory_key(project_sync_id))
