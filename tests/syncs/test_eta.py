"""syncs.selectors.eta_seconds_estimate: the remaining time of a run's phase from its stored
counters, for readers away from the worker (the MCP door's sync_status)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from syncs.models import SyncRun
from syncs.selectors import eta_seconds_estimate
from tests.factories import SyncRunFactory

pytestmark = pytest.mark.django_db


def test_it_estimates_from_the_current_phases_rate():
    now = timezone.now()
    run = SyncRunFactory(
        status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.EMBED, started_at=now - timedelta(seconds=10),
        phase_seconds={"fetch": 1.5, "diff": 0.5}, progress_done=40, progress_total=100,
    )  # fmt: skip

    # 8 s in this phase for 40 items: 5 a second, 60 to go.
    assert eta_seconds_estimate(run, now=now) == pytest.approx(12.0)


@pytest.mark.parametrize(
    ("status", "done", "total"),
    [(SyncRun.Status.QUEUED, 0, 0), (SyncRun.Status.RUNNING, 0, 100), (SyncRun.Status.RUNNING, 5, 0), (SyncRun.Status.SUCCEEDED, 100, 100)],
)
def test_it_has_no_estimate_without_a_rate(status, done, total):
    run = SyncRunFactory(status=status, started_at=timezone.now(), progress_done=done, progress_total=total)

    assert eta_seconds_estimate(run) is None
