"""`flush`, guarded: refuses to empty a database that holds vectors unless --force."""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.flush import Command as DjangoFlush

from embeddings import integrity


def refuse_if_vectors(command_name: str, options: dict) -> None:
    if options.get("force") or settings.NYXSYNC_ALLOW_FLUSH:
        return
    if integrity.holds_vectors(options.get("database", "default")):
        raise CommandError(
            f"refusing to {command_name}: this database holds embeddings, which are costly to regenerate. "
            f"Save them first (check_embeddings --save) and pass --force if you really mean it."
        )


class Command(DjangoFlush):
    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--force", action="store_true", help="Flush even though the database holds vectors.")

    def handle(self, **options):
        refuse_if_vectors("flush", options)
        return super().handle(**options)
