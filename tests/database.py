"""Reading the database as the tests' own connection sees it."""

from django.db import connection


def setting(name: str) -> str:
    """A PostgreSQL setting's value in the current session (or transaction), as SHOW prints it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]
