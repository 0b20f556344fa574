"""`gc_vectors`: delete vectors that no chunk refers to any more."""

from django.core.management.base import BaseCommand, CommandError

from embeddings.vectors import vectors_collect_garbage


class Command(BaseCommand):
    help = "Deletes vectors no chunk refers to (in any branch or snapshot), older than --older-than-days."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=float, default=7.0)
        parser.add_argument("--dry-run", action="store_true", help="Only count them.")

    def handle(self, *args, **options):
        if options["older_than_days"] < 0:
            raise CommandError("--older-than-days cannot be negative")
        count = vectors_collect_garbage(older_than_days=options["older_than_days"], dry_run=options["dry_run"])
        self.stdout.write(f"{'Would delete' if options['dry_run'] else 'Deleted'} {count} unreferenced vectors.")
