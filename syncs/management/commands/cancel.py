"""`cancel RUN_ID`: cancel a waiting or running sync run."""

from django.core.management.base import BaseCommand, CommandError

from nyxsync.management.lookup import acting_from_options, add_as_argument
from nyxsync.uuids import parse_uuid
from projects.permissions import can_sync
from syncs.models import SyncRun
from syncs.services import Cancel, sync_run_cancel


class Command(BaseCommand):
    help = "Cancels a sync run (its id as printed by `sync`). The live snapshot is kept."

    def add_arguments(self, parser):
        parser.add_argument("run_id")
        add_as_argument(parser)

    def handle(self, *args, **options):
        with acting_from_options(options) as user:
            self._handle(options, user)

    def _handle(self, options, user):
        # Every run the command acts for (row-level security narrows it to the --as user's).
        run_uuid = parse_uuid(options["run_id"])
        run = SyncRun.objects.select_related("project_sync__project").filter(uuid=run_uuid).first() if run_uuid else None
        if run is None:
            raise CommandError(f"no sync run with id {options['run_id']!r}")
        if user is not None and not can_sync(user, run.project_sync.project):
            raise CommandError(f"{user.get_username()} may not cancel runs of project {run.project_sync.project.name!r}")
        cancel = sync_run_cancel(run)
        if cancel.outcome == Cancel.FINISHED:
            raise CommandError(f"run {run.uuid} already ended: {cancel.run.status}")
        if cancel.outcome == Cancel.CANCELLED:
            self.stdout.write(f"Cancelled run {run.uuid}.")
        else:
            self.stdout.write(f"Asked run {run.uuid} to stop; it will end as cancelled at its next checkpoint.")
