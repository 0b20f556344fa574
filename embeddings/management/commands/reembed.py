"""`reembed`: move branches to another embedding model without downtime."""

from django.core.management.base import BaseCommand, CommandError

from projects.management.lookup import PROJECT_HELP, project_from_option
from projects.selectors import projects_not_deleted
from syncs.selectors import project_sync_list
from syncs.services import UnknownModel, project_sync_reembed


class Command(BaseCommand):
    help = (
        "Builds vectors of MODEL beside the current ones for the branches of --project (or --all), "
        "then makes MODEL live per branch in one swap. Search keeps the old model until then."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--project", help=PROJECT_HELP)
        target.add_argument("--all", action="store_true")
        parser.add_argument("--owner", help="Owner of --project, when several have a project of that name.")
        parser.add_argument("--model", required=True, help="e.g. all-MiniLM-L6-v2, hashing-256, openai:text-embedding-3-small")

    def handle(self, *args, **options):
        if options["project"]:
            projects = [project_from_option(options["project"], owner_name=options["owner"])]
        else:
            projects = projects_not_deleted()
        project_syncs = list(project_sync_list(projects=projects))
        if not project_syncs:
            raise CommandError("no branch to re-embed")
        for project_sync in project_syncs:
            try:
                run, created = project_sync_reembed(project_sync=project_sync, model_name=options["model"])
            except UnknownModel as exc:
                raise CommandError(str(exc)) from exc
            verb = "queued" if created else "merged into waiting"
            self.stdout.write(f"{project_sync}: re-embed to {options['model']} {verb} run {run.uuid}")
