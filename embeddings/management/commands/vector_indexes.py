"""`vector_indexes`: build the HNSW index of every registered embedding model that lacks one."""

from django.core.management.base import BaseCommand
from django.db import connections

from embeddings.management.commands.migrate import _as_migration_role
from embeddings.vectors import vector_indexes_ensure


class Command(BaseCommand):
    help = "Builds (CONCURRENTLY, as the owner role) the HNSW index of each embedding model that has none."

    def handle(self, *args, **options):
        with _as_migration_role(connections["default"]):
            models = vector_indexes_ensure()
        self.stdout.write(f"HNSW indexes present for: {', '.join(models) or 'no model'}.")
