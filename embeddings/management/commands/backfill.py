"""`backfill`: embed the live chunks that have no vector for their branch's model."""

from django.core.management.base import BaseCommand, CommandError

from embeddings.backfill import BackfillBusy, backfill
from nyxsync.management.lookup import quiet_logs
from projects.management.lookup import PROJECT_HELP, project_from_option


class Command(BaseCommand):
    help = (
        "Finds live chunks without a vector for their branch's model (after an import, a restore, an "
        "interrupted run, a column recreated by hand) and embeds exactly those. Resumable; --dry-run only counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", help=f"Only this project (default: all). {PROJECT_HELP}")
        parser.add_argument("--owner", help="Owner of --project, when several have a project of that name.")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, **options):
        project = project_from_option(options["project"], owner_name=options["owner"]) if options["project"] else None
        with quiet_logs("embeddings", enabled=options["verbosity"] < 2):
            try:
                result = self._run(project, options["dry_run"])
            except BackfillBusy as exc:
                raise CommandError(str(exc)) from exc
        counts = ", ".join(f"{model}: {count}" for model, count in result.missing.items()) or "none"
        if options["dry_run"]:
            self.stdout.write(f"Missing vectors: {counts}.")
        else:
            self.stdout.write(f"Missing vectors: {counts}. Embedded {result.embedded}.")

    def _run(self, project, dry_run: bool):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress("backfill", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("backfill", total=None)
            return backfill(
                project_id=project.pk if project else None,
                dry_run=dry_run,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
