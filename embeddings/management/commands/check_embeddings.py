"""`check_embeddings`: count and checksum every vector, per model, column and project."""

import json
from dataclasses import asdict
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from embeddings import integrity


class Command(BaseCommand):
    help = (
        "Prints, per model, vector column and project, how many vectors there are and a checksum of "
        "their content. --save FILE records the report; --against FILE fails if anything was lost or changed."
    )
    # A diagnostic for bad days: it must run even when the migrations on disk are in a bad state.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--save", metavar="FILE", type=Path, help="Write the report to FILE (JSON).")
        parser.add_argument("--against", metavar="FILE", type=Path, help="Compare with a report saved earlier.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--database", default="default")

    def handle(self, *args, **options):
        if options["against"]:
            try:
                before = integrity.load_report(options["against"])
            except integrity.ReportFileError as exc:
                raise CommandError(str(exc)) from exc
            problems = integrity.verify_against(before, options["database"])
            if problems:
                raise CommandError("embeddings lost or changed: " + "; ".join(problems))
            self.stdout.write(f"OK: every vector recorded in {options['against']} is intact.")
            return

        scopes = integrity.take_report(options["database"])
        if options["save"]:
            try:
                integrity.save_report(scopes, options["save"])
            except OSError as exc:
                raise CommandError(f"{options['save']}: {exc.strerror}") from exc
        if options["json"]:
            self.stdout.write(json.dumps([asdict(scope) for scope in scopes], indent=2))
            return
        if not scopes:
            self.stdout.write("No embeddings yet.")
        width = max((len(scope.label) for scope in scopes), default=0)
        for scope in scopes:
            model = f"  model {scope.model}" if scope.kind == "project" else ""
            missing = f"  missing {scope.missing}" if scope.kind == "project" else ""
            self.stdout.write(
                f"{scope.label:<{width}}{model}  vectors {scope.vectors:>9,}{missing}  checksum {int(scope.checksum):016x}"
            )
        if options["save"]:
            self.stdout.write(f"Saved to {options['save']}.")
