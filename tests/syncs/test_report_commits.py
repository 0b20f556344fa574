"""Progress reports and live events commit without waiting for the disk (nyxsync.db.
commit_without_waiting_for_disk): a one-file sync makes about ten of them, each 4-9 ms of WAL
flush on these machines. Everything else a run commits still waits (a swap, vectors, the run's end).
Transactional tests: the usual test transaction would hold every commit."""

import pytest
from django.db import connection, transaction
from django.utils import timezone

from nyxsync.db import commit_without_waiting_for_disk
from syncs.models import SyncRun
from syncs.progress import Progress
from tests.database import setting
from tests.factories import SyncRunFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_progress_report_and_its_event_commit_without_waiting(as_system):
    run = SyncRunFactory(status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.FETCH, started_at=timezone.now())
    seen, inside = [], []

    def record(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        kind = "progress" if sql.startswith("UPDATE syncs_syncrun SET phase") else "event" if "django_eventstream_event " in sql else None
        if kind and not inside:
            inside.append(True)
            seen.append((kind, setting("synchronous_commit")))
            inside.clear()
        return result

    with connection.execute_wrapper(record):
        Progress(run).phase(SyncRun.Phase.DIFF, total=3)

    assert seen == [("progress", "off"), ("event", "off")]
    assert setting("synchronous_commit") == "on"  # for this transaction only
    run.refresh_from_db()
    assert (run.phase, run.progress_total) == (SyncRun.Phase.DIFF, 3)


def test_inside_a_callers_transaction_the_commit_is_the_callers():
    with transaction.atomic():
        with commit_without_waiting_for_disk():
            assert setting("synchronous_commit") == "on"
    with commit_without_waiting_for_disk():
        assert setting("synchronous_commit") == "off"
        assert connection.in_atomic_block
    assert setting("synchronous_commit") == "on"


def test_a_failed_block_rolls_back_and_leaves_commits_durable(as_system):
    run = SyncRunFactory(status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.FETCH, progress_total=0)

    with pytest.raises(RuntimeError), commit_without_waiting_for_disk():
        SyncRun.objects.filter(pk=run.pk).update(progress_total=9)
        raise RuntimeError("stop")

    run.refresh_from_db()
    assert run.progress_total == 0
    assert setting("synchronous_commit") == "on"
