"""syncs.progress: how often a running sync reports within a phase. The throttle's rule, on a
clock of the test's own: at most every REPORT_EVERY_SECONDS, and never sooner than
REPORT_COST_RATIO times what the last report took (a slow database), but at least every
REPORT_MAX_SECONDS. The reports themselves are real (the run's row, its event)."""

import itertools

import pytest
from django.utils import timezone

from nyxsync import tenancy
from syncs import progress as progress_module
from syncs.models import SyncRun
from syncs.progress import REPORT_COST_RATIO, REPORT_EVERY_SECONDS, REPORT_MAX_SECONDS, Progress
from tests.factories import SyncRunFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


STEP = 1 / 128  # seconds between two items; binary fractions keep the clock's sums exact


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def report_times(monkeypatch, *, report_seconds: float, items: int) -> tuple[list[float], SyncRun]:
    """Advance a chunk phase of `items` by one item every STEP seconds, each report taking
    `report_seconds` of the clock; returns when each report started, and the run."""
    run = SyncRunFactory(status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.FETCH, started_at=timezone.now())
    clock = Clock()
    started: list[float] = []
    record = progress_module.runs.sync_run_record_progress

    def slow_record(run):  # the real write, on a database that takes `report_seconds`
        started.append(clock.now)
        clock.now += report_seconds
        return record(run)

    monkeypatch.setattr(progress_module.runs, "sync_run_record_progress", slow_record)
    with tenancy.acting_for_project(run.project_sync.project_id):  # as the pipeline reports
        progress = Progress(run, clock=clock)
        progress.phase(SyncRun.Phase.CHUNK, total=items)
        for _ in range(items):
            clock.now += STEP
            progress.advance()
    return started, run


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_reports_on_a_fast_database_come_every_quarter_second(monkeypatch):
    started, run = report_times(monkeypatch, report_seconds=1 / 1024, items=1280)

    # The phase's first report, then one a quarter second (to the step), and the last item's.
    assert all(REPORT_EVERY_SECONDS <= gap < REPORT_EVERY_SECONDS + STEP + 1 / 1024 for gap in gaps(started)[1:-1])
    assert 35 <= len(started) <= 45  # 10 s of work
    run.refresh_from_db()
    assert (run.phase, run.progress_done, run.progress_total) == (SyncRun.Phase.CHUNK, 1280, 1280)


@pytest.mark.parametrize("report_seconds", [1 / 16, 1 / 8])
def test_a_slow_report_makes_the_next_one_wait_its_cost_many_times_over(monkeypatch, report_seconds):
    started, run = report_times(monkeypatch, report_seconds=report_seconds, items=3000)

    wait = REPORT_COST_RATIO * report_seconds  # 1.25 s and 2.5 s: more than the quarter second
    assert wait > REPORT_EVERY_SECONDS
    inner = gaps(started)[1:-1]
    assert inner and all(wait <= gap < wait + STEP + report_seconds for gap in inner)
    # Reports took about 1 / REPORT_COST_RATIO of the phase, not a quarter second's worth each.
    phase_seconds = started[-1] - started[0]
    assert len(started) * report_seconds <= phase_seconds / REPORT_COST_RATIO * 1.1 + 2 * report_seconds
    run.refresh_from_db()
    assert run.progress_done == 3000


def test_however_slow_the_reports_one_comes_at_least_every_few_seconds(monkeypatch):
    started, _ = report_times(monkeypatch, report_seconds=1.0, items=3000)

    # 20 x 1 s would be 20 s between heartbeats: the cap keeps them (and a cancel's wait) at 5 s.
    inner = gaps(started)[1:-1]
    assert inner and all(REPORT_MAX_SECONDS <= gap < REPORT_MAX_SECONDS + STEP + 1.0 for gap in inner)
