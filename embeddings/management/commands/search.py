"""`search`: the chunks of a project's live snapshot nearest to a query."""

import json

from django.core.management.base import BaseCommand, CommandError

from embeddings.search import SearchError, search
from nyxsync.management.lookup import acting_from_options, add_as_argument, quiet_logs
from projects.management.lookup import PROJECT_HELP, project_from_option
from syncs.selectors import project_sync_list


class Command(BaseCommand):
    help = "Prints the chunks of a project (and branch) that best match QUERY, best first: rank, path, lines, branch, cosine, snippet."

    def add_arguments(self, parser):
        parser.add_argument("query")
        parser.add_argument("--project", required=True, help=PROJECT_HELP)
        parser.add_argument("--owner", help="Username of the project's owner, when several have a project of that name.")
        parser.add_argument("--branch", help="Only this branch (default: every synced branch).")
        parser.add_argument("-k", type=int, default=10, help="How many results (1-100).")
        parser.add_argument("--json", action="store_true")
        add_as_argument(parser)

    def handle(self, *args, **options):
        # Model loading is not news here.
        with quiet_logs("embeddings", enabled=options["verbosity"] < 2), acting_from_options(options) as user:
            self._handle(options, user)

    def _handle(self, options, user):
        project = project_from_option(options["project"], user=user, owner_name=options["owner"])
        project_syncs = list(project_sync_list(projects=[project], branch=options["branch"]))
        if options["branch"] and not project_syncs:
            raise CommandError(f"project {project.name!r} has no branch {options['branch']!r}")
        try:
            hits = search(project_syncs=project_syncs, query=options["query"], k=options["k"])
        except SearchError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            fields = ("path", "start_line", "end_line", "score", "text", "branch", "commit")
            self.stdout.write(json.dumps([{name: getattr(hit, name) for name in fields} for hit in hits]))
            return
        if not hits:
            self.stdout.write("No results (has the project been synced?).")
        # Ranked by the fused ranking (vector, text and symbols), not by cosine alone: the cosine is
        # shown labelled so that a lower one above a higher one is no surprise.
        for rank, hit in enumerate(hits, 1):
            snippet = " ".join(hit.text.split())[:160]
            self.stdout.write(
                f"{rank:>3}. {hit.path}:{hit.start_line}-{hit.end_line}  [{hit.branch}]  cosine {hit.score:.3f}\n       {snippet}"
            )
