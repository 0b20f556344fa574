"""`sync`: link a repository branch (creating its project if needed) and sync it to the end."""

import json
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from nyxsync.management.lookup import acting_from_options, add_as_argument, quiet_logs, split_owner, user_by_username
from projects.management.lookup import PROJECT_HELP, project_from_option_or_none
from projects.services import ProjectError
from repositories.input import InvalidInput
from syncs import services
from syncs.models import SyncRun

# How often a run a worker does is read back (one small query): every 10 ms at first, as a no-op or
# a one-file sync ends within a few hundred ms, then less often, up to every 100 ms.
FIRST_POLL_SECONDS, POLL_SECONDS = 0.01, 0.1
OK_STATUSES = (SyncRun.Status.SUCCEEDED, SyncRun.Status.UP_TO_DATE)


class Command(BaseCommand):
    help = "Links REPO's BRANCH to a project (created if needed) and runs one sync to completion."
    # The system checks (about half a second: the URL conf, every migration on disk) run in
    # `manage.py check`, `make lint` and `make run`; a sync must answer quickly, a no-op in well under a second.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--repo", required=True, help="GitHub owner/name, an https:// git URL, or a git:// or http:// URL on an allowed local host.")
        parser.add_argument("--branch", required=True)
        parser.add_argument("--project", help=f"{PROJECT_HELP} A new name creates the project (default: the repository's name).")
        parser.add_argument("--owner", help="Username of the project's owner (default: the owner of --project, else the first admin).")
        parser.add_argument("--json", action="store_true", help="Print the summary as one JSON object; no progress bar.")
        parser.add_argument("--inline", action="store_true", help="Run in this process instead of a Celery worker.")
        add_as_argument(parser)

    def handle(self, *args, **options):
        # The progress bar and the summary say it all; -v 2 shows the logs too.
        with quiet_logs("repositories", "projects", "embeddings", "syncs", enabled=options["verbosity"] < 2), acting_from_options(options) as user:
            self._handle(options, user)

    def _handle(self, options, user):
        owner, name = self._owner_and_name(options, user)
        try:
            project_sync = services.project_link(owner=owner, repository=options["repo"], branch=options["branch"], name=name, by=user)
        except (InvalidInput, ProjectError) as exc:
            raise CommandError(str(exc)) from exc

        inline = options["inline"] or not _worker_available()
        if inline and not options["inline"] and not options["json"]:
            self.stderr.write("No Celery worker answers: syncing in this process.")
        started = time.monotonic()
        run, created = services.sync_run_enqueue(project_sync=project_sync, trigger=SyncRun.Trigger.COMMAND, requested_by=user or owner, dispatch=not inline)
        runner = _start_inline(run) if inline and created else None
        run = self._watch(run, quiet=options["json"], runner=runner)
        summary = _summary(run, seconds=time.monotonic() - started)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self._print_summary(run, summary)
        if run.status not in OK_STATUSES:
            raise CommandError(f"sync {run.status}: {run.error}" if run.error else f"sync {run.status}")

    def _owner_and_name(self, options, user):
        """The project --project names if it exists (by uuid, OWNER/NAME or a unique name), else
        the owner and name of the project to create."""
        if options["project"]:
            project = project_from_option_or_none(options["project"], user=user, owner_name=options["owner"])
            if project is not None:
                return project.owner, project.name
            prefix, name = split_owner(options["project"])
        else:
            prefix, name = None, None
        owner_name = prefix or options["owner"]
        return (user_by_username(owner_name) if owner_name or not user else user), name

    def _watch(self, run: SyncRun, *, quiet: bool, runner) -> SyncRun:
        if quiet:  # no bar to draw: wait for the end
            return self._wait(run, runner=runner, update=None)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = [SpinnerColumn(), TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("queued", total=None)

            def update(run):
                bar.update(task, description=run.phase, completed=run.progress_done, total=run.progress_total or None)

            return self._wait(run, runner=runner, update=update)

    def _wait(self, run: SyncRun, *, runner, update) -> SyncRun:
        poll = FIRST_POLL_SECONDS
        try:
            while True:
                run.refresh_from_db()
                if update:
                    update(run)
                if not run.is_active and (runner is None or not runner.is_alive()):
                    return run
                if runner is not None:
                    runner.join(POLL_SECONDS)  # returns as soon as the run in this process ends
                else:
                    time.sleep(poll)
                    poll = min(poll * 1.5, POLL_SECONDS)
        except KeyboardInterrupt:
            services.sync_run_cancel(run)
            if runner is None:
                raise CommandError(f"stopped watching; run {run.uuid} was asked to cancel") from None
            runner.join()
            run.refresh_from_db()
            return run

    def _print_summary(self, run: SyncRun, summary: dict) -> None:
        write = self.stdout.write
        write(f"{run.project_sync}: {run.status} at commit {run.commit_after[:12] or '-'} in {summary['seconds']:.2f} s (run {run.uuid})")
        skipped = ", ".join(f"{reason} {count}" for reason, count in summary["skipped_by_reason"].items()) or "none"
        write(f"  files:  {run.files_seen} seen, {run.files_changed} changed, {run.files_deleted} deleted, {run.files_skipped} skipped ({skipped})")
        write(f"  chunks: {run.chunks_embedded} embedded, {run.chunks_reused} reused, {run.chunks_deleted} deleted")
        if run.phase_seconds:
            write("  phases: " + ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in summary["phase_seconds"].items()))
        if run.error:
            write(f"  error ({run.error_phase}): {run.error}")


def _worker_available() -> bool:
    from nyxsync.celery import app

    try:
        return bool(app.control.ping(timeout=1.0, limit=1))
    except Exception:
        return False


def _start_inline(run: SyncRun) -> threading.Thread:
    """Run the sync in a thread of this process, so the main thread can draw progress."""
    from syncs.pipeline import sync_run_execute

    def work():
        try:
            sync_run_execute(run.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=work, name=f"sync-{run.pk}", daemon=True)
    thread.start()
    return thread


def _summary(run: SyncRun, *, seconds: float) -> dict:
    summary = {
        "run_id": str(run.uuid),
        "project": run.project_sync.project.name,
        "branch": run.project_sync.branch,
        "status": run.status,
        "commit": run.commit_after,
        "files_seen": run.files_seen,
        "files_changed": run.files_changed,
        "files_deleted": run.files_deleted,
        "files_skipped": run.files_skipped,
        "skipped_by_reason": run.skipped_by_reason,
        "chunks_embedded": run.chunks_embedded,
        "chunks_reused": run.chunks_reused,
        "chunks_deleted": run.chunks_deleted,
        # In pipeline order (the database keeps JSON keys in its own order).
        "phase_seconds": {phase: run.phase_seconds[phase] for phase in SyncRun.Phase.values if phase in run.phase_seconds},
        "seconds": round(seconds, 3),
    }
    if run.error:
        summary["error"] = run.error
        summary["error_phase"] = run.error_phase
    return summary
