"""`reembed`: move branches to another embedding model without downtime."""

from django.core.management.base import BaseCommand, CommandError

from embeddings.backends import EmbeddingError
from projects.management.lookup import PROJECT_HELP, project_from_option
from syncs.models import ProjectSync
from syncs.services import project_sync_reembed


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
        syncs = ProjectSync.objects.select_related("project").filter(project__deleted_at__isnull=True)
        if options["project"]:
            syncs = syncs.filter(project=project_from_option(options["project"], owner_name=options["owner"]))
        if not syncs:
            raise CommandError("no branch to re-embed")
        for sync in syncs:
            try:
                run, created = project_sync_reembed(project_sync=sync, model_name=options["model"])
            except EmbeddingError as exc:
                raise CommandError(str(exc)) from exc
            verb = "queued" if created else "merged into waiting"
            self.stdout.write(f"{sync}: re-embed to {options['model']} {verb} run {run.uuid}")
