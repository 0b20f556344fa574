"""`makemigrations` without system checks: the checks include "models are in step with their
migrations" (embeddings.checks), which is exactly what this command is run to fix."""

from django.core.management.commands.makemigrations import Command as DjangoMakemigrations


class Command(DjangoMakemigrations):
    requires_system_checks = []
