"""`sqlflush`, guarded like flush: its output, piped to psql, would empty the embeddings."""

from django.core.management.commands.sqlflush import Command as DjangoSqlFlush

from embeddings.management.commands.flush import refuse_if_vectors


class Command(DjangoSqlFlush):
    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--force", action="store_true", help="Print the SQL even though the database holds vectors.")

    def handle(self, **options):
        refuse_if_vectors("print flush SQL", options)
        return super().handle(**options)
