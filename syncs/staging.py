"""Staging a run's files while it reads and chunks the next ones (syncs.pipeline).

Files go to the database in batches (embeddings.manifest.manifest_stage_files, one short
transaction each), so neither the worker's memory nor any one statement grows with the
repository. A big diff gets a thread of its own for the writes, with its own database connection
in the run's tenancy: PostgreSQL's share of the work (text vectors, index entries) then runs on
one core while Python chunks on the other. At most two batches wait for that thread, so memory
stays bounded. Rows staged beyond the live generation are invisible to readers; a run that stops
waits for the batch being written, then cleans them (manifest_clean_staged)."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable

from django.db import connection

from embeddings.manifest import StagedFile, manifest_stage_files


class StagingWriter:
    """with StagingWriter(project_sync, generation, threaded=...) as writer: writer.put(files)...;
    writer.finish(on_progress). Leaving the block by an exception stops the writes first."""

    def __init__(self, project_sync, generation: int, *, threaded: bool):
        self.project_sync, self.generation = project_sync, generation
        self.files_written = 0
        self._error: BaseException | None = None
        self._stopping = False
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=2)
            # The run's context (nyxsync.tenancy's ContextVar) goes along: the thread's connection
            # acts for the same project under row-level security.
            context = contextvars.copy_context()
            self._thread = threading.Thread(target=context.run, args=(self._work,), name="staging-writer", daemon=True)
            self._thread.start()

    def __enter__(self) -> StagingWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            self._stop()

    def put(self, files: list[StagedFile]) -> None:
        """Stage `files` (at once, or queued for the thread: waits while two batches wait)."""
        if not files:
            return
        if self._queue is None:
            self._write(files)
            return
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(files, timeout=0.25)
                return
            except queue.Full:
                continue

    def finish(self, on_progress: Callable[[int], None] = lambda written: None) -> None:
        """Wait until every batch is written, reporting the files written meanwhile; raises what
        the writes raised."""
        if self._thread is not None:
            self.put_end()
            while self._thread.is_alive():
                self._thread.join(0.25)
                on_progress(self.files_written)
        self._raise_if_failed()
        on_progress(self.files_written)

    def put_end(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.25)
                return
            except queue.Full:
                continue

    def _write(self, files: list[StagedFile]) -> None:
        manifest_stage_files(self.project_sync, generation=self.generation, files=files)
        self.files_written += len(files)

    def _work(self) -> None:
        try:
            while (files := self._queue.get()) is not None:
                if not self._stopping and self._error is None:
                    self._write(files)
        except BaseException as exc:  # handed to the run's thread, which raises it
            self._error = exc
            while self._queue.get() is not None:  # let put() go on until the run notices
                pass
        finally:
            connection.close()  # this thread's own connection

    def _stop(self) -> None:
        """The run failed or was cancelled: write no more, and wait for the batch being written,
        so that nothing lands after the run cleans its staged rows."""
        if self._thread is None:
            return
        self._stopping = True
        self.put_end()
        self._thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
