"""`vector_indexes`: build the HNSW index of every registered embedding model that lacks one."""

from django.core.management.base import BaseCommand
from django.db import connections

from embeddings.vectors import vector_indexes_ensure
from nyxsync.db import as_migration_role


class Command(BaseCommand):
    help = "Builds (CONCURRENTLY, as the owner role) the HNSW index of each embedding model that has none."

    def handle(self, *args, **options):
        with as_migration_role(connections["default"]):
            models = vector_indexes_ensure()
        self.stdout.write(f"HNSW indexes present for: {', '.join(models) or 'no model'}.")
