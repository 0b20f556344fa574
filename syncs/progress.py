"""Progress of a running sync: phase changes at once, counts within a phase at most a few times a
second. Each report stores the progress (and a heartbeat) on the run, publishes the run's event,
and tells the pipeline whether a cancel was requested."""

from __future__ import annotations

import time

from syncs import events, runs
from syncs.models import SyncRun

REPORT_EVERY_SECONDS = 0.25


class Cancelled(Exception):
    """A cancel was requested; raised at the next checkpoint."""


class Progress:
    def __init__(self, run: SyncRun):
        self.run = run
        self._phase_started = time.monotonic()
        self._last_report = 0.0

    def phase(self, phase: str, *, total: int = 0) -> None:
        """Enter `phase`: record how long the previous one took, report, check for cancel."""
        now = time.monotonic()
        run = self.run
        if run.phase not in (SyncRun.Phase.QUEUED, phase):
            run.phase_seconds[run.phase] = round(run.phase_seconds.get(run.phase, 0) + now - self._phase_started, 3)
        run.phase, run.progress_done, run.progress_total = phase, 0, total
        self._phase_started = now
        self._report(now)

    def advance(self, count: int = 1) -> None:
        self.run.progress_done += count
        now = time.monotonic()
        if now - self._last_report >= REPORT_EVERY_SECONDS or self.run.progress_done >= self.run.progress_total:
            self._report(now)

    def set_done(self, done: int) -> None:
        """Progress measured elsewhere (work shared with other workers)."""
        self.advance(done - self.run.progress_done)

    def close_phase(self) -> None:
        """Record the duration of the last phase (called once the run's work is done)."""
        run = self.run
        if run.phase != SyncRun.Phase.QUEUED:
            elapsed = time.monotonic() - self._phase_started
            run.phase_seconds[run.phase] = round(run.phase_seconds.get(run.phase, 0) + elapsed, 3)
            self._phase_started = time.monotonic()

    def _report(self, now: float) -> None:
        self._last_report = now
        run = self.run
        cancel_requested = runs.sync_run_record_progress(run)
        elapsed = now - self._phase_started
        rate = run.progress_done / elapsed if elapsed > 0 and run.progress_done else None
        remaining = max(run.progress_total - run.progress_done, 0)
        eta = remaining / rate if rate and run.progress_total else None
        events.publish_run(run, rate=rate, eta_seconds=eta)
        if cancel_requested:
            raise Cancelled()
