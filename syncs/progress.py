"""Progress of a running sync: phase changes at once, counts within a phase at most a few times a
second (less often when reports are slow). Each report stores the progress (and a heartbeat) on the
run, publishes the run's event, and tells the pipeline whether a cancel was requested."""

from __future__ import annotations

import time
from collections.abc import Callable

from nyxsync.db import commit_without_waiting_for_disk
from syncs import events, runs
from syncs.models import SyncRun

REPORT_EVERY_SECONDS = 0.25
# A report costs round trips (the run's row, its events on two channels): tens of ms each on a
# busy database, which at four a second took half of a big sync's chunk phase. The next report
# waits at least this many times as long as the last one took: reports never take more than
# about 5% of a run, however slow the database, and come at least every REPORT_MAX_SECONDS (the
# heartbeat, a cancel's wait).
REPORT_COST_RATIO = 20
REPORT_MAX_SECONDS = 5.0


class Cancelled(Exception):
    """A cancel was requested; raised at the next checkpoint."""


class Progress:
    def __init__(self, run: SyncRun, *, clock: Callable[[], float] = time.monotonic):
        self.run = run
        self._clock = clock  # seconds, monotonic (a test's own clock tells the throttle's rule)
        self._phase_started = clock()
        self._next_report = float("-inf")

    def phase(self, phase: str, *, total: int = 0) -> None:
        """Enter `phase`: record how long the previous one took, report, check for cancel."""
        now = self._clock()
        run = self.run
        if run.phase not in (SyncRun.Phase.QUEUED, phase):
            run.phase_seconds[run.phase] = round(run.phase_seconds.get(run.phase, 0) + now - self._phase_started, 3)
        run.phase, run.progress_done, run.progress_total = phase, 0, total
        self._phase_started = now
        self._report(now)

    def advance(self, count: int = 1) -> None:
        self.run.progress_done += count
        now = self._clock()
        if now >= self._next_report or self.run.progress_done >= self.run.progress_total:
            self._report(now)

    def set_done(self, done: int) -> None:
        """Progress measured elsewhere (work shared with other workers)."""
        self.advance(done - self.run.progress_done)

    def close_phase(self) -> None:
        """Record the duration of the last phase (called once the run's work is done)."""
        run = self.run
        if run.phase != SyncRun.Phase.QUEUED:
            elapsed = self._clock() - self._phase_started
            run.phase_seconds[run.phase] = round(run.phase_seconds.get(run.phase, 0) + elapsed, 3)
            self._phase_started = self._clock()

    def _report(self, now: float) -> None:
        try:
            self._report_now(now)
        finally:
            cost = self._clock() - now
            self._next_report = now + min(max(REPORT_EVERY_SECONDS, REPORT_COST_RATIO * cost), REPORT_MAX_SECONDS)

    def _report_now(self, now: float) -> None:
        run = self.run
        with commit_without_waiting_for_disk():  # the next report (or the run's end) replaces it
            cancel_requested = runs.sync_run_record_progress(run)
        elapsed = now - self._phase_started
        rate = run.progress_done / elapsed if elapsed > 0 and run.progress_done else None
        remaining = max(run.progress_total - run.progress_done, 0)
        eta = remaining / rate if rate and run.progress_total else None
        events.publish_run(run, rate=rate, eta_seconds=eta)
        if cancel_requested:
            raise Cancelled()
